"""Fresh domains on libvirt's test driver (test:///default) for the tests of domain_tune's groups, and a runner.

A test module makes its own `guest` fixture with `guest_fixture(xml, prefix)`; the domain runs unless the test's
name says `shutoff`; `guest.connection` is its connection.
"""

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder
from ansible_collections.virtops.libvirt.plugins.module_utils._tune import TuneRunner


def guest_fixture(xml, prefix):
    """A fixture defining `xml` (a format string with {name}) as `<prefix>-<test name>`, removed after the test."""

    @pytest.fixture
    def guest(request):
        with Connection(ConnectionParams(uri="test:///default")) as connection:
            name = f"{prefix}-{request.node.name}"[:60]
            virdomain = connection.conn.defineXML(xml.format(name=name))
            if "shutoff" not in request.node.name:
                virdomain.create()
            yield Domain(connection, virdomain)
            if virdomain.isActive():
                virdomain.destroy()
            virdomain.undefine()

    return guest


def run_groups(groups, domain, check_mode=False, **params):
    """TuneRunner with these groups: (result, actions)."""
    recorder = ChangeRecorder(check_mode)
    result = TuneRunner(domain, {"live": None, "config": None, **params}, groups, recorder).run()
    return result, recorder.actions
