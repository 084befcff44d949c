"""Stand-ins for a libvirt daemon that stops answering, for tests of timeouts and keepalive.

HungSocket: a Unix socket that accepts connections and never says a word (a hung libvirtd, or
a firewall that swallows packets): `qemu+unix:///system?socket=<path>` never finishes opening.

FreezingProxy: forwards a Unix socket to a real libvirtd until `freeze()`, then swallows
everything in both directions: a daemon that hangs after the connection was opened.

ClosingProxy: forwards a Unix socket to a real libvirtd until the client sends a call of one of
the given RPC procedures, then closes both sides without forwarding it: a daemon that died or a
link cut in the middle of a call.
"""

import os
import socket
import struct
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


class _Proxy(_UnixListener):
    """Connects each accepted client to the daemon's socket; subclasses pump each direction."""

    def __init__(self, upstream_path, directory=None):
        self.upstream_path = upstream_path
        super().__init__(directory)

    def _serve(self, client):
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(self.upstream_path)
        self._sockets.append(upstream)
        threading.Thread(target=self._pump_calls, args=(client, upstream), daemon=True).start()
        threading.Thread(target=self._pump_answers, args=(upstream, client), daemon=True).start()

    def _pump_calls(self, client, upstream):
        raise NotImplementedError

    def _pump_answers(self, upstream, client):
        raise NotImplementedError


class FreezingProxy(_Proxy):
    prefix = "virtops-proxy-"

    def __init__(self, upstream_path, directory=None):
        self.frozen = threading.Event()
        super().__init__(upstream_path, directory)

    def freeze(self):
        self.frozen.set()

    def _pump_calls(self, client, upstream):
        self._pump(client, upstream)

    def _pump_answers(self, upstream, client):
        self._pump(upstream, client)

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


# libvirt's RPC framing (src/rpc/virnetprotocol.x): a 4-byte length (itself included), then
# program, version, procedure, type, serial and status, big-endian.
REMOTE_PROGRAM = 0x20008086
RPC_CALL = 0
# Procedure numbers of src/remote/remote_protocol.x that the fault tests cut.
PROC_DOMAIN_CREATE = 9
PROC_DOMAIN_GET_XML_DESC = 14
PROC_DOMAIN_CREATE_WITH_FLAGS = 196
PROC_CONNECT_GET_ALL_DOMAIN_STATS = 344


class ClosingProxy(_Proxy):
    prefix = "virtops-closing-"

    def __init__(self, upstream_path, procedures, directory=None):
        self.procedures = frozenset(procedures)
        self.cuts = 0  # how many connections were closed mid-call
        self.cut = threading.Event()
        super().__init__(upstream_path, directory)

    def _pump_calls(self, client, upstream):
        """Forward the client's packets one whole packet at a time, until one is a call to cut."""
        pending = b""
        while True:
            data = _receive(client)
            if not data:
                _close_both(client, upstream)
                return
            pending += data
            while len(pending) >= 4 and len(pending) >= struct.unpack(">I", pending[:4])[0]:
                length = struct.unpack(">I", pending[:4])[0]
                packet, pending = pending[:length], pending[length:]
                if self._is_cut_call(packet):
                    _close_both(client, upstream)
                    self.cuts += 1
                    self.cut.set()
                    return
                try:
                    upstream.sendall(packet)
                except OSError:
                    _close_both(client, upstream)
                    return

    def _is_cut_call(self, packet):
        if len(packet) < 28:
            return False
        program, _version, procedure, kind = struct.unpack(">IIiI", packet[4:20])
        return program == REMOTE_PROGRAM and kind == RPC_CALL and procedure in self.procedures

    def _pump_answers(self, upstream, client):
        while True:
            data = _receive(upstream)
            if not data:
                _close_both(client, upstream)
                return
            try:
                client.sendall(data)
            except OSError:
                return


def _receive(sock):
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _close_both(*sockets):
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
