"""A fault-injecting HTTP proxy for S3 tests: a loopback server, in a thread, in front of a real S3 API
(the moto server). Point ``client_kwargs.endpoint_url`` at :attr:`FaultyProxy.endpoint`.

Each request is read whole, then, at random (seeded) and by the rates of :class:`Faults`:

- ``error``: answered ``500 InternalError`` or ``503 SlowDown`` by the proxy (S3's XML error body), never
  reaching the server;
- ``reset_before``: the connection is reset (TCP RST) before the request reaches the server;
- ``reset_after``: the request is served by the server, then the connection is reset instead of
  answering (the client cannot tell whether a write happened);
- ``delay``: the request waits ``delay_s`` seconds before it is forwarded (a slow store).

Everything else is forwarded unchanged, one upstream connection per request. Counters of requests and of
each fault injected are kept in :attr:`FaultyProxy.counts`.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass

KINDS = ("error", "reset_before", "reset_after", "delay")


@dataclass
class Faults:
    """Per-request probabilities of each fault (their sum at most 1) and the delay's length."""

    error: float = 0.0
    reset_before: float = 0.0
    reset_after: float = 0.0
    delay: float = 0.0
    delay_s: float = 0.5
    methods: tuple[str, ...] = ()  # only requests with these HTTP methods are faulted (empty: all)

    def pick(self, rng: random.Random, method: str) -> str | None:
        """The fault for one request, or None."""
        if self.methods and method not in self.methods:
            return None
        draw = rng.random()
        for kind in KINDS:
            rate = getattr(self, kind)
            if draw < rate:
                return kind
            draw -= rate
        return None


class FaultyProxy:
    """``with FaultyProxy(upstream, Faults(...)) as proxy: ... proxy.endpoint ...``; ``faults`` may be
    replaced at any time (``proxy.faults = Faults()`` stops injecting)."""

    def __init__(self, upstream: str, faults: Faults | None = None, seed: int = 0) -> None:
        host, _, port = upstream.removeprefix("http://").rstrip("/").partition(":")
        self.upstream = (host, int(port or 80))
        self.faults = faults or Faults()
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="s3-fault-proxy", daemon=True)
        self.endpoint = ""

    # -- life cycle ---------------------------------------------------------------------------------------

    def start(self) -> FaultyProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop).result(10)
        port = self._server.sockets[0].getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> FaultyProxy:  # noqa: PYI034 - Python 3.10 has no typing.Self
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def injected(self) -> int:
        """Faults injected so far (all kinds)."""
        with self._lock:
            return sum(self.counts[kind] for kind in KINDS)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    # -- one client connection ------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader, writer)
                if request is None:
                    return
                method, head, body = request
                with self._lock:
                    fault = self.faults.pick(self._rng, method)
                    delay_s = self.faults.delay_s
                    self.counts["requests"] += 1
                    if fault:
                        self.counts[fault] += 1
                    serial = self.counts["requests"]
                if fault == "error":
                    writer.write(_error_response(serial))
                    await writer.drain()
                    continue
                if fault == "reset_before":
                    _reset(writer)
                    return
                if fault == "delay":
                    await asyncio.sleep(delay_s)
                response = await self._forward(head, body)
                if fault == "reset_after":
                    _reset(writer)
                    return
                writer.write(_client_response(response, method))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
        except asyncio.CancelledError:  # the proxy stops: end quietly
            writer.close()
        except Exception:  # noqa: BLE001 - a proxy bug must not hang the client: drop its connection
            _reset(writer)

    async def _forward(self, head: bytes, body: bytes) -> bytes:
        """Send one request upstream on a new connection (``Connection: close``); the whole response."""
        reader, writer = await asyncio.open_connection(*self.upstream)
        try:
            writer.write(_with_header(head, b"Connection", b"close") + body)
            await writer.drain()
            return await reader.read(-1)
        finally:
            writer.close()


# -- HTTP/1.1 framing ---------------------------------------------------------------------------------------

def _headers(head: bytes) -> dict[bytes, bytes]:
    lines = head.split(b"\r\n")[1:]
    pairs = (line.split(b":", 1) for line in lines if b":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}


def _with_header(head: bytes, name: bytes, value: bytes | None) -> bytes:
    """``head`` (ending in a blank line) with header ``name`` replaced (or removed when ``value`` is None)."""
    lines = [line for line in head.rstrip(b"\r\n").split(b"\r\n")
             if not line.lower().startswith(name.lower() + b":")]
    if value is not None:
        lines.append(name + b": " + value)
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                        ) -> tuple[str, bytes, bytes] | None:
    """(method, head, body) of the next request on a connection, None when the client closed it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    method = head.split(b" ", 1)[0].decode("ascii", "replace")
    headers = _headers(head)
    if headers.get(b"expect", b"").lower() == b"100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
        head = _with_header(head, b"Expect", None)
    if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        body = bytearray()
        while True:
            line = await reader.readuntil(b"\r\n")
            body += line
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                    body += trailer
                body += b"\r\n"
                return method, head, bytes(body)
            body += await reader.readexactly(size + 2)
    length = int(headers.get(b"content-length", b"0") or 0)
    return method, head, await reader.readexactly(length) if length else b""


def _client_response(raw: bytes, method: str) -> bytes:
    """An upstream response (read to its end) framed for a kept-alive client connection."""
    head, _, body = raw.partition(b"\r\n\r\n")
    head += b"\r\n\r\n"
    head = _with_header(head, b"Connection", None)
    headers = _headers(head)
    status = int(head.split(b" ", 2)[1])
    framed = b"content-length" in headers or b"chunked" in headers.get(b"transfer-encoding", b"").lower()
    if not framed and method != "HEAD" and status not in (204, 304) and status >= 200:
        head = _with_header(head, b"Content-Length", str(len(body)).encode())
    return head + body


def _error_response(serial: int) -> bytes:
    status, code = ("503 Service Unavailable", "SlowDown") if serial % 2 else ("500 Internal Server Error",
                                                                                "InternalError")
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>injected by the test '
            f'proxy</Message><RequestId>fault-{serial}</RequestId></Error>').encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {len(body)}\r\n"
            f"x-amz-request-id: fault-{serial}\r\n\r\n").encode() + body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP reset (SO_LINGER 0), not a clean FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()
