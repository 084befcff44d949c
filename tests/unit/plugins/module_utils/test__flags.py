"""Option strings to libvirt flags."""

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _flags
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, UnsupportedOperation


def test_modes_combine_into_one_flag_value():
    assert _flags.combine("shutdown_mode", ["acpi", "agent"], _flags.SHUTDOWN_MODES) == (
        libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN | libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT
    )
    assert _flags.combine("shutdown_mode", [], _flags.SHUTDOWN_MODES) == 0


def test_unknown_value_names_the_option_and_the_choices():
    with pytest.raises(InvalidArgument, match="shutdown_mode: unknown value 'hard'; expected one of acpi, agent, "):
        _flags.combine("shutdown_mode", ["hard"], _flags.SHUTDOWN_MODES)


def test_a_flag_this_libvirt_lacks_is_named(monkeypatch):
    monkeypatch.delattr(libvirt, "VIR_DOMAIN_UNDEFINE_TPM", raising=False)
    with pytest.raises(UnsupportedOperation, match=r"has no VIR_DOMAIN_UNDEFINE_TPM \(needed for remove=tpm\)"):
        _flags.combine("remove", ["tpm"], _flags.UNDEFINE_REMOVALS)


@pytest.mark.parametrize("table", [
    _flags.SHUTDOWN_MODES, _flags.REBOOT_MODES, _flags.UNDEFINE_REMOVALS, _flags.UNDEFINE_KEEPS, _flags.START_FLAGS,
])
def test_every_mapped_constant_exists_in_this_libvirt(table):
    assert all(hasattr(libvirt, constant) for constant in table.values())


def test_libvirt_version_is_dotted():
    assert _flags.libvirt_version().count(".") == 2


def test_the_daemon_version_comes_from_the_connection_not_the_client(monkeypatch):
    from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
    with Connection(ConnectionParams(uri="test:///default"), events=False) as connection:
        monkeypatch.setattr(connection.conn, "getLibVersion", lambda: 10002003)
        assert _flags.daemon_version(connection) == (10, 2, 3)
    assert _flags.version_text((10, 2, 3)) == "10.2.3"
