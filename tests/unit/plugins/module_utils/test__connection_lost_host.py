"""Connection.invoke after a broken connection (issue 16): the error names the host that went away,
and only when it is this connection that broke (a migration's call can lose the destination's)."""

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import ConnectionFailed

URI = "test:///default"


class SocketClosed(libvirt.libvirtError):
    """What libvirt raises on a call whose connection the daemon closed."""

    def __init__(self):
        super().__init__("internal error: client socket is closed")

    def get_error_code(self):
        return libvirt.VIR_ERR_INTERNAL_ERROR

    def get_error_message(self):
        return "internal error: client socket is closed"


class StubConn:
    def __init__(self, alive):
        self.alive = alive

    def isAlive(self):  # noqa: N802  (libvirt's name)
        return 1 if self.alive else 0


def failing_call():
    raise SocketClosed()


def connection(alive):
    opened = Connection(ConnectionParams(uri=URI))
    opened._conn = StubConn(alive)  # pylint: disable=protected-access
    return opened


def test_a_broken_connection_names_its_host():
    with pytest.raises(ConnectionFailed) as caught:
        connection(alive=False).invoke("read state", failing_call, domain="vm1")
    assert caught.value.message == ("domain 'vm1': read state failed: internal error: client socket is closed"
                                    f" - lost the connection to libvirt at '{URI}'")


def test_a_connection_that_still_stands_is_not_blamed():
    with pytest.raises(ConnectionFailed) as caught:
        connection(alive=True).invoke("migrate", failing_call, domain="vm1")
    assert "lost the connection" not in caught.value.message
    assert caught.value.message == "domain 'vm1': migrate failed: internal error: client socket is closed"
