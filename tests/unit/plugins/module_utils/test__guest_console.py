"""domain_guest's console and debug actions (screenshot, send_keys, signal, nmi, core_dump) on libvirt's test driver.

The test driver takes screenshots (a PNG through a stream), keys, signals, NMIs and raw core dumps (its dump file
holds a magic string); it refuses kdump formats and the memory-only / live dump flags, which the QEMU rig
takes (tests/integration and /work/helpers/GUEST-RIG-FACTS.md).
"""

import os
import struct

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    InvalidArgument,
    LibvirtCallError,
    UnsupportedOperation,
    VirtopsError,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._guest_console import ARGUMENT_SPECS, PARTS
from ansible_collections.virtops.libvirt.plugins.module_utils._guest_keys import (
    KEYCODE_SETS,
    LINUX_KEY_CODES,
    SIGNAL_NUMBERS,
    key_code,
    signal_number,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._guest import GuestRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder

from tune_guest import guest_fixture

GUEST_XML = """<domain type='test'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
</domain>"""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEST_DRIVER_DUMP = b"TestGuestMagic"


guest = guest_fixture(GUEST_XML, "unit-console")


def with_defaults(option, wanted):
    """The option's value as AnsibleModule hands it over: suboption defaults filled in."""
    if not isinstance(wanted, dict):
        return wanted
    defaults = {key: spec.get("default") for key, spec in ARGUMENT_SPECS[option]["options"].items()}
    return {**defaults, **wanted}


def run(domain, check_mode=False, **options):
    """The domain_guest runner with the console parts: (result, actions)."""
    recorder = ChangeRecorder(check_mode)
    params = {option: with_defaults(option, wanted) for option, wanted in options.items()}
    result = GuestRunner(domain, params, PARTS, recorder).run()
    return result, recorder.actions


# --- the name tables -----------------------------------------------------------------------------

def test_keycode_sets_and_signal_numbers_are_libvirts():
    assert {name: getattr(libvirt, constant) for name, constant in KEYCODE_SETS.items()} == {
        "linux": 0, "xt": 1, "atset1": 2, "atset2": 3, "atset3": 4, "os_x": 5, "xt_kbd": 6, "usb": 7, "win32": 8,
        "qnum": 9}
    libvirts = {name[len("VIR_DOMAIN_PROCESS_SIGNAL_"):]: getattr(libvirt, name) for name in dir(libvirt)
                if name.startswith("VIR_DOMAIN_PROCESS_SIGNAL_")}
    assert SIGNAL_NUMBERS == libvirts


def test_linux_key_names_match_the_kernels_codes():
    assert (LINUX_KEY_CODES["KEY_ESC"], LINUX_KEY_CODES["KEY_1"], LINUX_KEY_CODES["KEY_ENTER"]) == (1, 2, 28)
    assert (LINUX_KEY_CODES["KEY_LEFTALT"], LINUX_KEY_CODES["KEY_SYSRQ"], LINUX_KEY_CODES["KEY_H"]) == (56, 99, 35)
    assert (LINUX_KEY_CODES["KEY_F12"], LINUX_KEY_CODES["KEY_DELETE"], LINUX_KEY_CODES["KEY_COMPOSE"]) == (88, 111, 127)
    assert 84 not in LINUX_KEY_CODES.values() and len(LINUX_KEY_CODES) == 127


@pytest.mark.parametrize("key, keycode_set, code", [
    ("KEY_A", "linux", 30), ("a", "linux", 30), ("leftctrl", "linux", 29), ("KEY_1", "linux", 2),
    ("1", "linux", 1), (" 28 ", "usb", 28), (4, "usb", 4)])
def test_a_key_is_a_linux_name_or_a_code_of_the_set(key, keycode_set, code):
    assert key_code(key, keycode_set) == code


@pytest.mark.parametrize("key, keycode_set, words", [
    ("KEY_NOPE", "linux", "unknown key 'KEY_NOPE'"), ("KEY_A", "usb", "with keycode_set=usb give the keys as numbers")])
def test_an_unknown_key_name_or_a_name_with_another_set_is_refused(key, keycode_set, words):
    with pytest.raises(InvalidArgument, match=words):
        key_code(key, keycode_set)


@pytest.mark.parametrize("name, number", [("SIGTERM", 15), ("term", 15), ("KILL", 9), ("sigrt3", 35), ("NOP", 0)])
def test_signals_by_name(name, number):
    assert signal_number(name) == number


def test_an_unknown_signal_lists_the_known_ones():
    with pytest.raises(InvalidArgument, match="signal: unknown signal 'SIGFOO': expected one of SIGNOP, SIGHUP"):
        signal_number("SIGFOO")


# --- screenshot ------------------------------------------------------------------------------------

def test_a_screenshot_is_a_png_written_to_the_path_with_its_mime_type_and_size(guest, tmp_path):
    path = tmp_path / "screen.png"
    result, actions = run(guest, screenshot={"path": str(path)})
    assert actions == [f"screenshot: screen 0 to {path}"]
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])
    assert width > 0 and height > 0
    assert result == {"screenshot": {"path": str(path), "screen": 0, "mime_type": "image/png", "size": len(data)}}
    assert os.stat(path).st_mode & 0o777 == 0o600, "a screen may show secrets"
    assert sorted(os.listdir(tmp_path)) == ["screen.png"], "no partial file left behind"


def test_a_screenshot_replaces_an_existing_file(guest, tmp_path):
    path = tmp_path / "screen.png"
    path.write_bytes(b"old")
    run(guest, screenshot={"path": str(path)})
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_a_screenshot_in_check_mode_is_only_reported(guest, tmp_path):
    path = tmp_path / "screen.png"
    result, actions = run(guest, check_mode=True, screenshot={"path": str(path), "screen": 0})
    assert actions == [f"screenshot: screen 0 to {path}"]
    assert result == {"screenshot": {"path": str(path), "screen": 0, "mime_type": None, "size": None}}
    assert not path.exists()


def test_a_screenshot_into_a_missing_directory_fails_naming_it(guest, tmp_path):
    path = tmp_path / "missing" / "screen.png"
    with pytest.raises(VirtopsError, match=f"screenshot: cannot write to {path}: No such file or directory"):
        run(guest, screenshot={"path": str(path)})


def test_a_failed_stream_leaves_no_file_and_is_aborted(guest, tmp_path, monkeypatch):
    aborted = []

    class BrokenStream:
        def recvAll(self, handler, opaque):  # noqa: N802
            handler(self, b"\x89PNG partial", opaque)
            raise libvirt.libvirtError("stream broke")

        def finish(self):
            raise AssertionError("a broken stream is not finished")

        def abort(self):
            aborted.append(True)

    monkeypatch.setattr(guest.connection.conn, "newStream", lambda flags: BrokenStream(), raising=False)
    monkeypatch.setattr(guest, "virdomain", FakeScreen(guest.virdomain))
    path = tmp_path / "screen.png"
    with pytest.raises(LibvirtCallError, match="receive the screenshot"):
        run(guest, screenshot={"path": str(path)})
    assert aborted == [True]
    assert os.listdir(tmp_path) == []


class FakeScreen:
    """The test driver's domain, with a screenshot that accepts any stream."""

    def __init__(self, virdomain):
        self.wrapped = virdomain

    def screenshot(self, stream, screen, flags):
        return "image/png"

    def __getattr__(self, name):
        return getattr(self.wrapped, name)


# --- keys, signal, NMI -----------------------------------------------------------------------------

def test_keys_are_sent_as_codes_and_every_run_sends_them_again(guest, monkeypatch):
    sent = []
    monkeypatch.setattr(guest, "virdomain", Recording(guest.virdomain, sent))
    wanted = {"keys": ["KEY_LEFTALT", "KEY_SYSRQ", "h"], "hold_time": 100}
    for _run in range(2):
        result, actions = run(guest, send_keys=wanted)
        assert actions == ["send_keys: KEY_LEFTALT+KEY_SYSRQ+h (linux codes 56, 99, 35)"]
        assert result == {"send_keys": {"keycode_set": "linux", "codes": [56, 99, 35]}}
    assert sent == [("sendKey", (0, 100, [56, 99, 35], 3, 0))] * 2


def test_keys_of_another_set_go_as_given(guest, monkeypatch):
    sent = []
    monkeypatch.setattr(guest, "virdomain", Recording(guest.virdomain, sent))
    run(guest, send_keys={"keys": ["4", 5], "keycode_set": "usb"})
    assert sent == [("sendKey", (libvirt.VIR_KEYCODE_SET_USB, 0, [4, 5], 2, 0))]


def test_keys_signal_and_nmi_in_check_mode_are_reported_not_sent(guest, monkeypatch):
    sent = []
    monkeypatch.setattr(guest, "virdomain", Recording(guest.virdomain, sent))
    result, actions = run(guest, check_mode=True, send_keys={"keys": ["KEY_ENTER"]},
                          signal={"pid": 1, "signal": "term"}, nmi=True)
    assert actions == ["send_keys: KEY_ENTER (linux codes 28)", "signal: SIGTERM to process 1",
                       "nmi: inject a non-maskable interrupt"]
    assert sent == []


def test_signal_and_nmi_reach_libvirt(guest, monkeypatch):
    sent = []
    monkeypatch.setattr(guest, "virdomain", Recording(guest.virdomain, sent))
    _result, actions = run(guest, signal={"pid": 42, "signal": "SIGKILL"}, nmi=True)
    assert actions == ["signal: SIGKILL to process 42", "nmi: inject a non-maskable interrupt"]
    assert sent == [("sendProcessSignal", (42, 9, 0)), ("injectNMI", (0,))]


def test_on_the_test_driver_itself_keys_signal_and_nmi_succeed(guest):
    _result, actions = run(guest, send_keys={"keys": ["KEY_A"]}, signal={"pid": 1, "signal": "NOP"}, nmi=True)
    assert len(actions) == 3


def test_nmi_false_injects_nothing(guest, monkeypatch):
    sent = []
    monkeypatch.setattr(guest, "virdomain", Recording(guest.virdomain, sent))
    _result, actions = run(guest, nmi=False, send_keys={"keys": ["KEY_A"]})
    assert actions == ["send_keys: KEY_A (linux codes 30)"]
    assert [name for name, _args in sent] == ["sendKey"]


def test_qemus_missing_process_signal_is_an_unsupported_operation(guest, monkeypatch):
    def unsupported(*_args):
        error = libvirt.libvirtError("this function is not supported by the connection driver: virDomainSendProcessSignal")
        error.get_error_code = lambda: libvirt.VIR_ERR_NO_SUPPORT
        raise error

    monkeypatch.setattr(guest, "virdomain", Recording(guest.virdomain, [], sendProcessSignal=unsupported))
    with pytest.raises(UnsupportedOperation, match="send SIGTERM to process 1"):
        run(guest, signal={"pid": 1, "signal": "TERM"})


class Recording:
    """The test driver's domain; the console calls are recorded (or replaced) instead of made."""

    def __init__(self, virdomain, sent, **replaced):
        self.wrapped, self.sent, self.replaced = virdomain, sent, replaced

    def __getattr__(self, name):
        if name in self.replaced:
            return self.replaced[name]
        if name in ("sendKey", "sendProcessSignal", "injectNMI", "coreDumpWithFormat"):
            return lambda *args: self.sent.append((name, args)) or 0
        return getattr(self.wrapped, name)


@pytest.mark.parametrize("option, wanted, words", [
    ("send_keys", {"keys": []}, "send_keys: give 1 to 16 keys"),
    ("send_keys", {"keys": ["KEY_A"] * 17}, "send_keys: give 1 to 16 keys, pressed together \\(got 17\\)"),
    ("send_keys", {"keys": ["KEY_A"], "hold_time": -1}, "hold_time must not be negative"),
    ("send_keys", {"keys": ["KEY_A", "KEY_WHAT"]}, "unknown key 'KEY_WHAT'"),
    ("signal", {"pid": 0, "signal": "TERM"}, "signal: pid must be positive"),
    ("signal", {"pid": 1, "signal": "SIGWHAT"}, "signal: unknown signal 'SIGWHAT'"),
    ("screenshot", {"path": "screen.png"}, "screenshot: path must be absolute"),
    ("screenshot", {"path": "/tmp/s.png", "screen": -1}, "screen must not be negative"),
    ("core_dump", {"path": "guest.core"}, "core_dump: path must be absolute, a path on the hypervisor host"),
    ("core_dump", {"path": "/tmp/g.core", "format": "kdump-zlib"}, "format kdump-zlib needs memory_only=true"),
    ("core_dump", {"path": "/tmp/g.core", "live": True, "reset": True}, "live and reset exclude each other"),
])
def test_bad_input_is_refused_before_anything_happens(guest, monkeypatch, option, wanted, words):
    sent = []
    monkeypatch.setattr(guest, "virdomain", Recording(guest.virdomain, sent))
    with pytest.raises(InvalidArgument, match=words):
        run(guest, nmi=True, **{option: wanted})
    assert sent == []


@pytest.mark.parametrize("option, wanted", [
    ("screenshot", {"path": "/tmp/never.png"}), ("send_keys", {"keys": ["KEY_A"]}),
    ("signal", {"pid": 1, "signal": "TERM"}), ("nmi", True), ("core_dump", {"path": "/tmp/never.core"})])
def test_a_shutoff_domain_is_refused_while_planning_also_in_check_mode(guest, option, wanted):
    for check_mode in (True, False):
        with pytest.raises(VirtopsError, match=f"{option}: domain 'unit-console-.*' is not running"):
            run(guest, check_mode=check_mode, **{option: wanted})


# --- core dump -------------------------------------------------------------------------------------

def test_a_raw_core_dump_is_written_by_the_daemon_with_its_size(guest, tmp_path):
    path = tmp_path / "guest.core"
    result, actions = run(guest, core_dump={"path": str(path)})
    assert actions == [f"core_dump: raw dump to {path}"]
    assert path.read_bytes().startswith(TEST_DRIVER_DUMP)
    assert result == {"core_dump": {"path": str(path), "format": "raw", "size": path.stat().st_size}}


def test_core_dump_flags_and_format_reach_libvirt(guest, monkeypatch):
    sent = []
    monkeypatch.setattr(guest, "virdomain", Recording(guest.virdomain, sent))
    _result, actions = run(guest, core_dump={"path": "/var/tmp/g.core", "format": "kdump-zlib", "memory_only": True,
                                             "bypass_cache": True, "reset": True})
    assert actions == ["core_dump: kdump-zlib dump to /var/tmp/g.core (memory-only, bypass-cache, reset)"]
    flags = libvirt.VIR_DUMP_MEMORY_ONLY | libvirt.VIR_DUMP_BYPASS_CACHE | libvirt.VIR_DUMP_RESET
    assert sent == [("coreDumpWithFormat", ("/var/tmp/g.core", libvirt.VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_ZLIB, flags))]


def test_a_core_dump_in_check_mode_is_only_reported(guest, tmp_path):
    path = tmp_path / "guest.core"
    result, actions = run(guest, check_mode=True, core_dump={"path": str(path), "live": True})
    assert actions == [f"core_dump: raw dump to {path} (live)"]
    assert result == {"core_dump": {"path": str(path), "format": "raw", "size": None}}
    assert not path.exists()


def test_a_flag_the_driver_refuses_is_a_clear_error_naming_the_call(guest, tmp_path):
    with pytest.raises(LibvirtCallError, match="dump the guest's core to .*unsupported flags"):
        run(guest, core_dump={"path": str(tmp_path / "g.core"), "memory_only": True})


def test_the_order_is_screenshot_keys_signal_nmi_core_dump(guest, tmp_path, monkeypatch):
    monkeypatch.setattr(guest, "virdomain", Recording(guest.virdomain, []))
    _result, actions = run(guest, check_mode=True, core_dump={"path": "/tmp/g.core"}, nmi=True,
                           signal={"pid": 1, "signal": "HUP"}, send_keys={"keys": ["KEY_A"]},
                           screenshot={"path": str(tmp_path / "s.png")})
    assert [action.split(":")[0] for action in actions] == ["screenshot", "send_keys", "signal", "nmi", "core_dump"]
