"""The photo server the local tier's containers reach: scikit-image's photos over HTTP."""

from __future__ import annotations

import importlib.resources
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# scikit-image photo -> accepted top-1 labels. Sets of near-synonyms that any decent ImageNet-1k
# model gives (the student's image carries MobileNetV3-Small, the project's tests the
# EfficientNet-Lite0 test model, whose top-1 is the first of each set and whose top 5 hold the
# others: tests/classifier_support/expected_predictions.json). Labels are compared by WordNet
# synonym: the hub model names a class "tabby, tabby cat", the test model "tabby".
EXPECTED_LABELS = {
    "coffee.png": frozenset({"espresso", "cup", "coffee mug"}),
    "rocket.jpg": frozenset({"missile", "projectile", "space shuttle"}),
    "motorcycle_left.png": frozenset({"moped", "motor scooter", "disk brake", "disc brake", "crash helmet"}),
    "chelsea.png": frozenset({"tabby", "tiger cat", "Egyptian cat"}),
}


def synonyms(label: object) -> set[str]:
    """The WordNet synonyms of an ImageNet class name ("tabby, tabby cat" -> {"tabby", "tabby cat"})."""
    if not isinstance(label, str):
        return set()
    return {part.strip().lower() for part in label.split(",") if part.strip()}


def label_matches(label: object, accepted: frozenset[str] | set[str]) -> bool:
    """Whether a predicted class name is one of the accepted ones (by any of its synonyms)."""
    return bool(synonyms(label) & {a.lower() for a in accepted})


def photo_path(name: str) -> Path:
    return Path(str(importlib.resources.files("skimage") / "data" / name))


class PhotoServer:
    """HTTP server the containers reach: /photos/<scikit-image photo>, /missing.png (404),
    /not-an-image.png (an HTML page served as image/png)."""

    def __init__(self, bind: str, advertised_host: str) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests.append(self.path)
                if self.path.startswith("/photos/") and self.path[len("/photos/"):] in EXPECTED_LABELS:
                    self._send(200, photo_path(self.path[len("/photos/"):]).read_bytes(), "image/png")
                elif self.path == "/not-an-image.png":
                    self._send(200, b"<html><body>Ceci n'est pas une image.</body></html>", "image/png")
                else:
                    self._send(404, b"not found", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer((bind, 0), Handler)
        self._httpd.daemon_threads = True
        self.base = f"http://{advertised_host}:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, name="photo-server", daemon=True).start()

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def photo(self, name: str) -> str:
        return self.url(f"/photos/{name}")

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
