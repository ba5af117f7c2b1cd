"""A local, threaded HTTP file server for tests: Range requests and injected faults.

``FaultyServer(folder)`` serves the files under ``folder`` on ``127.0.0.1`` at a free port
(``server.url``), answers ``Range: bytes=a-`` / ``bytes=a-b`` with ``206`` (or ignores Range when
``range_support=False``), and misbehaves on request::

    server.add_fault("records100/00000/00001_lr.dat", "truncate")          # the next request only
    server.add_fault("records100/00000/00001_lr.dat", "corrupt", times=None)  # every request

Faults: ``truncate`` (announce the full length, send half, close), ``corrupt`` (same length, one
byte changed, see :func:`corrupt_bytes`), ``reset`` (close without answering), ``stall`` (wait
``stall_s`` seconds before answering), ``404``, ``500``. ``server.override(path, data)`` serves other
bytes for a path. ``server.log`` lists ``(path, range_header_or_None, status)`` per request.
"""
from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["FaultyServer", "corrupt_bytes", "FAULTS"]

FAULTS = ("truncate", "corrupt", "reset", "stall", "404", "500")


def corrupt_bytes(data: bytes) -> bytes:
    """``data`` with its middle byte inverted (what the ``corrupt`` fault sends)."""
    if not data:
        return b"\x00"
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # the default 5 drops SYNs under 8 parallel clients (1 s stalls)


class FaultyServer:
    """Serve a folder over HTTP on 127.0.0.1 with Range support and fault injection."""

    def __init__(self, folder: str | Path, *, range_support: bool = True, stall_s: float = 2.0):
        self.folder = Path(folder)
        self.range_support = range_support
        self.stall_s = stall_s
        self.log: list[tuple[str, str | None, int]] = []
        self._faults: dict[str, list[list]] = {}  # path -> [[kind, times_left_or_None], ...]
        self._overrides: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._httpd.handle_error = lambda request, address: None  # clients hang up on purpose
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def add_fault(self, path: str, kind: str, times: int | None = 1) -> None:
        """Misbehave on the next ``times`` requests for ``path`` (every request when None)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; choose from {FAULTS}")
        with self._lock:
            self._faults.setdefault(path, []).append([kind, times])

    def override(self, path: str, data: bytes | None) -> None:
        """Serve ``data`` for ``path`` instead of the file (None: 404)."""
        self._overrides[path] = data

    def requests_for(self, path: str) -> list[tuple[str | None, int]]:
        """``(range_header, status)`` of every request made for ``path``."""
        with self._lock:
            return [(rng, status) for p, rng, status in self.log if p == path]

    def _next_fault(self, path: str) -> str | None:
        with self._lock:
            queue = self._faults.get(path)
            if not queue:
                return None
            kind, times = queue[0]
            if times is not None:
                queue[0][1] -= 1
                if queue[0][1] <= 0:
                    queue.pop(0)
            return kind

    def _record(self, path: str, rng: str | None, status: int) -> None:
        with self._lock:
            self.log.append((path, rng, status))

    def start(self) -> "FaultyServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "FaultyServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _make_handler(server: FaultyServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: closing ends the body

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            try:
                self._serve()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (time-out tests)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _serve(self) -> None:
            path = unquote(urlsplit(self.path).path).lstrip("/")
            rng = self.headers.get("Range")
            fault = server._next_fault(path)
            if fault == "reset":
                server._record(path, rng, 0)
                self.close_connection = True
                return
            if fault == "stall":
                time.sleep(server.stall_s)
            if fault in ("404", "500"):
                server._record(path, rng, int(fault))
                self._send(int(fault), {"Content-Length": "0"}, b"")
                return
            if path in server._overrides:
                data = server._overrides[path]
            else:
                file = server.folder / path
                data = file.read_bytes() if path and file.is_file() else None
            if data is None:
                server._record(path, rng, 404)
                self._send(404, {"Content-Length": "0"}, b"")
                return
            if fault == "corrupt":
                data = corrupt_bytes(data)
            status, start, headers = 200, 0, {}
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
            if server.range_support and match:
                start = int(match.group(1))
                end = int(match.group(2)) if match.group(2) else len(data) - 1
                if start >= len(data):
                    server._record(path, rng, 416)
                    self._send(416, {"Content-Range": f"bytes */{len(data)}", "Content-Length": "0"}, b"")
                    return
                end = min(end, len(data) - 1)
                status, headers["Content-Range"] = 206, f"bytes {start}-{end}/{len(data)}"
                data = data[start:end + 1]
            headers["Content-Length"] = str(len(data))
            headers["Content-Type"] = "application/octet-stream"
            server._record(path, rng, status)
            if fault == "truncate":
                self._send(status, headers, data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self._send(status, headers, data)

    return Handler
