"""A WSGI application served in this process on TCP and, when asked, on a Unix socket too (the
grader's sandboxed workers have no network: they reach the scorer's servers by that socket)."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any


class WsgiServers:
    def __init__(self, name: str) -> None:
        self.name = name
        self.port = 0
        self._servers: list[Any] = []
        self._threads: list[threading.Thread] = []

    def start(self, app: Any, bind: str, unix_socket: str | None = None,
              also: tuple[tuple[str, int], ...] = ()) -> int:
        """Serve `app` on `bind` (a free port, returned), on `unix_socket` if given, and on each
        (address, port) of `also` (OSError when one is taken: nothing is left listening)."""
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        try:
            for address, port in also:
                self._servers.append(make_server(address, port, app, threaded=True))
        except OSError:
            self.stop()
            raise
        tcp = make_server(bind, 0, app, threaded=True)
        self.port = tcp.server_address[1]
        self._servers.append(tcp)
        if unix_socket:
            self._servers.append(make_server(f"unix://{unix_socket}", 0, app, threaded=True))
            os.chmod(unix_socket, 0o666)  # the sandboxed worker runs as another user
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.name,
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        return self.port

    def stop(self, unix_socket: str | None = None) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        if unix_socket and os.path.exists(unix_socket):
            os.unlink(unix_socket)
