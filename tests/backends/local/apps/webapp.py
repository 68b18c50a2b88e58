"""A small real web service for the runtime tests: stdlib only, so it starts in ~50 ms.

GET / answers with its VERSION (or 500 when FAIL=1, a bad release); /healthz is 200 unless READY=0 (then 500), /livez
unless LIVE=0; /slow
takes SLOW_SECONDS (default 0.3) to answer; /allocate?mb=N keeps N MiB more; /burn?seconds=S
spins for S seconds and answers with the share of one CPU it got. It serves on $PORT and, on SIGTERM,
finishes what it is doing and exits.

For the tenancy tests, it also says who it is and tries what it is asked to: /id answers (JSON) its
uid, gid, groups, HOME, TMPDIR, working folder and Python; /read?path=P reads the file P (or lists
the folder P) and answers 200, or 403 when the system refused it, or 404 when P is not there (for
this process); /write?path=P writes a file and answers its owner and mode.
"""

import http.server
import json
import os
import signal
import sys
import threading
import time
import urllib.parse

KEPT = []


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/healthz":
            ok = os.environ.get("READY", "1") != "0"
            self._send(200 if ok else 500, b"ok\n" if ok else b"not ready\n")
        elif self.path == "/livez":
            ok = os.environ.get("LIVE", "1") != "0"
            self._send(200 if ok else 500, b"alive\n" if ok else b"stuck\n")
        elif self.path == "/slow":
            time.sleep(float(os.environ.get("SLOW_SECONDS", "0.3")))
            self._send(200, b"slow\n")
        elif self.path.startswith("/allocate?mb="):
            for _ in range(int(self.path.split("=")[1])):
                KEPT.append(bytearray(1 << 20))  # bytearray: zeroed, so really resident
            self._send(200, f"{len(KEPT)}\n".encode())
        elif self.path.startswith("/burn?seconds="):
            wall, cpu = time.monotonic(), time.process_time()
            while time.monotonic() - wall < float(self.path.split("=")[1]):
                pass
            self._send(200, f"{(time.process_time() - cpu) / (time.monotonic() - wall):.3f}\n".encode())
        elif self.path == "/id":
            self._send(200, json.dumps(identity()).encode())
        elif self.path.startswith("/read?"):
            self._send(*attempt(read, self.path))
        elif self.path.startswith("/write?"):
            self._send(*attempt(write, self.path))
        elif os.environ.get("FAIL") == "1":
            self._send(500, b"internal error\n")
        else:
            self._send(200, f"{os.environ.get('VERSION', 'v1')} {os.getpid()}\n".encode())

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def identity():
    return {
        "uid": os.getuid(),
        "euid": os.geteuid(),
        "gid": os.getgid(),
        "groups": os.getgroups(),
        "home": os.environ.get("HOME"),
        "tmpdir": os.environ.get("TMPDIR"),
        "cwd": os.getcwd(),
        "python": sys.executable,
        "prefix": sys.prefix,
    }


def read(path):
    if os.path.isdir(path):
        return f"listed {len(os.listdir(path))} entries\n"
    with open(path, "rb") as f:
        return f"read {len(f.read())} bytes\n"


def write(path):
    with open(path, "w") as f:
        f.write("mine\n")
    st = os.stat(path)
    return json.dumps({"uid": st.st_uid, "gid": st.st_gid, "mode": st.st_mode & 0o777})


def attempt(action, url):
    path = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["path"][0]
    try:
        return 200, action(path).encode()
    except PermissionError as e:
        return 403, f"denied: {e}\n".encode()
    except FileNotFoundError as e:
        return 404, f"not found: {e}\n".encode()


def main():
    if os.environ.get("CRASH"):
        print("boom: CRASH is set", file=sys.stderr)
        sys.exit(3)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


if __name__ == "__main__":
    main()
