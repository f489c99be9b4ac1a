"""A local HTTP server (127.0.0.1 only) with the routes the classifier tests need."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from classifier_support.paths import photo

STALL_SECONDS = 10  # upper bound: a stalled response ends by itself


class TestHTTPServer:
    """Routes: /photo/<name> (a scikit-image photo), /missing (404), /text (HTML page),
    /big?size=N (N bytes of image/jpeg-typed junk, no Content-Length), /stall (headers then
    silence), /bytes/<key> (bytes registered with :meth:`add`)."""

    __test__ = False

    def __init__(self) -> None:
        self.release = threading.Event()
        self.blobs: dict[str, tuple[bytes, str]] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path, _, query = self.path.partition("?")
                if path.startswith("/photo/"):
                    self._send(200, photo(path[len("/photo/"):]).read_bytes(), "image/png")
                elif path.startswith("/bytes/") and path[len("/bytes/"):] in server.blobs:
                    body, ctype = server.blobs[path[len("/bytes/"):]]
                    self._send(200, body, ctype)
                elif path == "/text":
                    self._send(200, b"<html><body>pas une image</body></html>", "text/html")
                elif path == "/big":
                    size = int(query.partition("=")[2] or 1_000_000)
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.end_headers()
                    chunk = b"\xff" * 65536
                    try:
                        for _ in range(0, size, len(chunk)):
                            self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                elif path == "/stall":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.end_headers()
                    self.wfile.write(b"\xff\xd8")
                    self.wfile.flush()
                    server.release.wait(STALL_SECONDS)
                else:
                    self._send(404, b"not found", "text/plain")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, key: str, body: bytes, ctype: str = "image/png") -> str:
        self.blobs[key] = (body, ctype)
        return self.url(f"/bytes/{key}")

    def close(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
