"""A TCP proxy that a test can make go silent: the network to a remote database stops
carrying packets, but nobody closes anything (no FIN, no RST), as when a VPN drops, a NAT
forgets the flow or a cable is pulled. Only a heartbeat with a timeout can notice that.

    proxy = TcpProxy(("127.0.0.1", 5432)); proxy.start()
    ... connect to 127.0.0.1:proxy.port ...
    proxy.go_silent()   # bytes stop moving, both ways, on every connection (new ones too)
    proxy.resume()      # they move again (what was held is delivered)
    proxy.reset_clients()  # each client's end is reset (RST); the server's end stays open
    proxy.stop()
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading


class TcpProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        # Set while bytes may flow; cleared by go_silent().
        self._flowing = threading.Event()
        self._flowing.set()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        # (client, upstream) of each connection so far.
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        # Server ends whose client end was reset: never closed before stop().
        self._orphans: set[socket.socket] = set()
        self.connections = 0

    @property
    def silent(self) -> bool:
        return not self._flowing.is_set()

    def start(self) -> TcpProxy:
        self._spawn(self._accept_loop, "tcp-proxy-accept")
        return self

    def go_silent(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def reset_clients(self) -> None:
        """The client end of every connection so far is reset (as a NAT that forgot the
        flow answers), while the server's end stays open: the server's session lives on
        until it is ended there. New connections flow as before."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
            self._orphans.update(upstream for _, upstream in pairs)
        for client, _ in pairs:
            with contextlib.suppress(OSError):
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()

    def stop(self) -> None:
        self._closing.set()
        self._flowing.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for s in sockets:
            with contextlib.suppress(OSError):
                s.close()
        for t in self._threads:
            t.join(2)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------
    def _spawn(self, target: object, name: str, *args: object) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        self._threads.append(t)
        t.start()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            # A silent network answers no SYN either; the closest a userspace proxy gets
            # is to accept and then never forward: the client's handshake times out.
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
                self._pairs.append((client, upstream))
                self.connections += 1
            self._spawn(self._pump, "tcp-proxy-up", client, upstream)
            self._spawn(self._pump, "tcp-proxy-down", upstream, client)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self._closing.is_set():
                self._flowing.wait()
                ready, _, _ = select.select([src], [], [], 0.1)
                if not ready:
                    continue
                if not self._flowing.is_set():
                    continue  # went silent meanwhile: leave the bytes in the kernel
                data = src.recv(65536)
                if not data:
                    break
                # Received just before going silent: hold it until the network is back.
                self._flowing.wait()
                dst.sendall(data)
        except (OSError, ValueError):  # ValueError: a socket reset_clients closed
            pass
        finally:
            # One side ended (only ever while flowing): pass the end on, as TCP would,
            # but not to a server end left open by reset_clients.
            if dst not in self._orphans:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
