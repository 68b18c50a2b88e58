"""hello: a small ASGI service that Civic runs (served by uvicorn on $PORT).

GET /         a greeting ($GREETING) with the revision and the process that answered
GET /healthz  200 while the service can serve (readiness and liveness)
GET /metrics  Prometheus text: requests served, by path
"""

import os

COUNTS: dict[str, int] = {}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    COUNTS[path] = COUNTS.get(path, 0) + 1
    if path == "/healthz":
        status, body, kind = 200, "ok\n", "text/plain"
    elif path == "/metrics":
        lines = ["# HELP hello_requests_total Requests served, by path.",
                 "# TYPE hello_requests_total counter"]
        lines += [f'hello_requests_total{{path="{p}"}} {n}' for p, n in sorted(COUNTS.items())]
        status, body, kind = 200, "\n".join(lines) + "\n", "text/plain; version=0.0.4"
    elif path == "/":
        greeting = os.environ.get("GREETING", "Hello from Civic")
        body = (f"{greeting}! (revision {os.environ.get('CIVIC_REVISION', '?')}, "
                f"pid {os.getpid()})\n")
        status, kind = 200, "text/plain"
    else:
        status, body, kind = 404, "not found\n", "text/plain"
    data = body.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind.encode()), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
