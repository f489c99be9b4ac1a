"""How `curl http://$ALB_DNS` reaches the sandbox's load balancer: an HTTP proxy on loopback.

The load balancer keeps the DNS name AWS would give it (``ecs-lab-alb-1.eu-west-1.elb.amazonaws.com``,
the same in ``describe-load-balancers`` and in the stack's output), so every command and check
reads it unchanged. No resolver on the machine knows that name, and making it resolve would need
root (an /etc/hosts entry) and port 80. Instead ``ecs-lab sandbox env`` exports ``http_proxy``
(honoured by curl, the AWS CLI, Python's urllib and requests): this proxy sends a request for a
load balancer's DNS name to that load balancer's local listener (round robin over the service's
healthy tasks), and forwards any other plain-HTTP request to its host, as an ordinary proxy. The
sandbox's own endpoints (127.0.0.1, localhost) are in ``no_proxy``.
"""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

TIMEOUT_S = 30.0
MAX_BODY = 64 * 1024 * 1024
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
               "trailers", "transfer-encoding", "upgrade"}


class LoadBalancerProxy:
    def __init__(self, port: int, listener_for: Callable[[str], str | None], bind: str = "127.0.0.1") -> None:
        """`listener_for(host)`: the URL of the local listener of the load balancer named `host`
        (None: the only one), None when no load balancer has that DNS name."""
        self.listener_for = listener_for
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_CONNECT(self) -> None:
                self._plain(405, "ecs-lab sandbox: HTTPS is not proxied.\n")

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                host = parts.hostname or (self.headers.get("Host") or "").split(":")[0]
                if not parts.hostname and host in ("127.0.0.1", "localhost"):
                    host = ""  # a browser at the proxy's own address: the (only) load balancer
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                try:
                    listener = proxy.listener_for(host or None)
                except Exception as error:  # noqa: BLE001
                    self._plain(502, f"ecs-lab sandbox: {error}\n")
                    return
                if listener is None and not host:
                    self._plain(502, "ecs-lab sandbox: no load balancer (or more than one) to show here.\n")
                elif listener is not None:
                    target = urlsplit(listener)
                    self._forward(target.hostname or "127.0.0.1", target.port or 80, path, host)
                elif host.endswith(".elb.amazonaws.com"):  # a deleted or never created load balancer
                    self._plain(502, f"ecs-lab sandbox: Could not resolve host: {host} (no load balancer "
                                     "of the sandbox has this DNS name)\n")
                else:
                    self._forward(host, parts.port or 80, path, self.headers.get("Host") or host)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle

            def _forward(self, host: str, port: int, path: str, host_header: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, MAX_BODY)) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["Host"] = host_header
                connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
                try:
                    connection.request(self.command, path, body=body, headers=headers)
                    answer = connection.getresponse()
                    data = answer.read(MAX_BODY)
                except OSError as error:
                    self._plain(502, f"ecs-lab sandbox: {host}:{port}: {error}\n")
                    return
                finally:
                    connection.close()
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _plain(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer((bind, port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="sandbox-alb-proxy", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
