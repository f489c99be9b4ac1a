"""A WSGI application served in this process on TCP and, when asked, on a Unix socket too (the
grader's sandboxed workers have no network: they reach the scorer's servers by that socket)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

# How often an idle server wakes up to look whether it is asked to stop (stop() wakes it at once).
POLL_S = 0.5


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
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL_S}, name=self.name,
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        return self.port

    def stop(self, unix_socket: str | None = None) -> None:
        servers, self._servers = self._servers, []
        # A server notices it is asked to stop when it wakes up: a connection wakes it now.
        stopping = [threading.Thread(target=server.shutdown, name=f"{self.name}-stop") for server in servers]
        for thread in stopping:
            thread.start()
        for server, thread in zip(servers, stopping):
            while thread.is_alive():
                _wake(server)
                thread.join(timeout=0.01)
        for server in servers:
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        if unix_socket and os.path.exists(unix_socket):
            os.unlink(unix_socket)


def _wake(server: Any) -> None:
    """Connect to `server` and leave: its wait for a request ends."""
    family = getattr(server, "address_family", socket.AF_INET)
    address = server.server_address
    if family == socket.AF_INET and address[0] in ("0.0.0.0", ""):  # noqa: S104 - listening everywhere
        address = ("127.0.0.1", address[1])
    try:
        with socket.socket(family, socket.SOCK_STREAM) as poke:
            poke.settimeout(0.1)
            poke.connect(address)
    except OSError:
        pass  # already closed, or not reachable this way: it stops at its next poll
