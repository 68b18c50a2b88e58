"""Readiness and liveness probes: one small HTTP GET on loopback, or a TCP connect.

The supervisor calls :func:`probe` for each replica at the check's interval. It is a
dozen lines of asyncio rather than an HTTP client, so probing hundreds of replicas
costs little. A probe returns None when healthy, or why not (shown in ``civic status``
and in a failed deploy's reason).
"""

from __future__ import annotations

import asyncio

from civic.spec import models


async def probe(port: int, check: models.Check | None, *, host: str = "127.0.0.1") -> str | None:
    """None if the replica on ``port`` passes ``check`` (None: accepts connections)."""
    timeout = check.timeout_seconds if check else 1.0
    try:
        return await asyncio.wait_for(_probe(host, port, check), timeout)
    except TimeoutError:
        what = f"GET {check.path}" if check else "a connection"
        return f"{what} timed out after {timeout:g} s"
    except OSError as e:
        return f"port {port} refuses connections ({e.strerror or e})"


async def _probe(host: str, port: int, check: models.Check | None) -> str | None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        if check is None:
            return None
        writer.write(f"GET {check.path} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: civic-probe\r\n\r\n".encode())
        await writer.drain()
        line = await reader.readline()
        parts = line.decode(errors="replace").split()
        if len(parts) < 2 or not parts[1].isdigit():
            return f"GET {check.path} got no HTTP response"
        status = int(parts[1])
        if 200 <= status < 400:
            return None
        return f"GET {check.path} returned {status}"
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
