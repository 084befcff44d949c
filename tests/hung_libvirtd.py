"""Stand-ins for a libvirt daemon that stops answering, for tests of timeouts and keepalive.

HungSocket: a Unix socket that accepts connections and never says a word (a hung libvirtd, or
a firewall that swallows packets): `qemu+unix:///system?socket=<path>` never finishes opening.

FreezingProxy: forwards a Unix socket to a real libvirtd until `freeze()`, then swallows
everything in both directions: a daemon that hangs after the connection was opened.
"""

import os
import socket
import tempfile
import threading


class _UnixListener:
    """A Unix socket in a fresh directory that hands each accepted connection to `_serve`."""

    prefix = "virtops-socket-"

    def __init__(self, directory=None):
        self.directory = directory or tempfile.mkdtemp(prefix=self.prefix)
        self.path = os.path.join(self.directory, "libvirt-sock")
        self.uri = f"qemu+unix:///system?socket={self.path}"
        self._sockets = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _address = self._server.accept()
            except OSError:
                return
            self._sockets.append(client)
            self._serve(client)

    def _serve(self, client):
        raise NotImplementedError

    def close(self):
        self._server.close()
        for sock in self._sockets:
            sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def __enter__(self):
        return self

    def __exit__(self, *_exc_info):
        self.close()


class HungSocket(_UnixListener):
    prefix = "virtops-hung-"

    def _serve(self, client):
        """Keep the connection open, never read from it, never answer."""


class FreezingProxy(_UnixListener):
    prefix = "virtops-proxy-"

    def __init__(self, upstream_path, directory=None):
        self.upstream_path = upstream_path
        self.frozen = threading.Event()
        super().__init__(directory)

    def freeze(self):
        self.frozen.set()

    def _serve(self, client):
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(self.upstream_path)
        self._sockets.append(upstream)
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source, target):
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                return
            if not self.frozen.is_set():
                target.sendall(data)
