"""domain_guest on the rig: the tiny guest's real qemu-guest-agent (facts: /work/helpers/GUEST-RIG-FACTS.md).

One guest at a time (the CI shares the rig): most tests share one guest with the ext4 data disk on /mnt/data,
two vCPUs and a VGA screen; each test leaves it as it found it (thawed, both vCPUs online, clock right). The
tests that break its agent (stopped, killed) come last, then the guest without an agent channel.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import libvirt
import pytest

from harness import module_environment, rig_env, run_module

URI = rig_env.HOST_A_URI
DATA = rig_env.GUEST_DATA_MOUNT
USER = rig_env.GUEST_USER
VGA = "<video><model type='vga'/></video>"
KEY_1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl one@virtops-test"
KEY_2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE8vJbZlFx1Vd6cGjHtwu3Hq3rhB0bmQ1o2FF8xXz4Zk two@virtops-test"
KEY_3 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7virtopsthreethreethree three@virtops-test"
SHARED_NAME = f"virtops-t{os.getpid() % 10000}-guest-shared"
AGENT_TIMEOUT = 3


@pytest.fixture(scope="module")
def guest(rig):
    """The shared running guest, agent answering (thawed, both vCPUs online again after each test)."""
    conn = rig.connect(URI)
    dom = rig_env.define_guest(conn, SHARED_NAME, vcpus=2, max_vcpus=2, nic=True, extra_devices=VGA)
    rig_env.wait_agent(dom, timeout=180)
    yield dom
    rig_env.cleanup_domain(conn, SHARED_NAME)
    rig_env.remove_data_disk(SHARED_NAME)
    conn.close()


@pytest.fixture
def healthy(guest):
    """The shared guest, put back the way the next test expects it when this test ends."""
    yield guest
    if not guest.isActive():
        return
    try:
        rig_env.wait_agent(guest, timeout=60)
        if rig_env.agent_command(guest, "guest-fsfreeze-status") == "frozen":
            guest.fsThaw(None, 0)
        guest.setGuestVcpus("0-1", 1, 0)
        now = time.time()
        guest.setTime({"seconds": int(now), "nseconds": int((now % 1) * 1e9)}, 0)
    except (libvirt.libvirtError, TimeoutError):
        pass  # the test broke the agent on purpose (the last tests): nothing to restore


def guest_args(dom, **options):
    return {"uri": URI, "name": dom.name(), "agent_timeout": AGENT_TIMEOUT, **options}


def ok(result):
    assert result.get("failed") is not True, result.get("msg")
    return result


def freeze_status(dom):
    return rig_env.agent_command(dom, "guest-fsfreeze-status")


def home(user):
    return "/root" if user == "root" else f"/home/{user}"


def guest_keys(dom, user=USER):
    """The user's authorized keys as the guest has them (its file, read through guest-exec: no file = none)."""
    text = rig_env.guest_shell(dom, f"cat {home(user)}/.ssh/authorized_keys 2>/dev/null || true")
    return sorted(line for line in text.splitlines() if line.strip())


def guest_skew(dom):
    answer = dom.getTime(0)
    return answer["seconds"] + answer["nseconds"] / 1e9 - time.time()


# ----------------------------------------------------------------------------------------- fsfreeze / fstrim
def test_freeze_then_thaw_is_seen_in_the_agents_status_and_a_second_run_is_unchanged(healthy):
    assert freeze_status(healthy) == "thawed"
    planned = ok(run_module("domain_guest", guest_args(healthy, fsfreeze={"state": "frozen"}), check_mode=True))
    assert planned["changed"] is True and planned["fsfreeze"]["status"] == "frozen"
    assert freeze_status(healthy) == "thawed", "check mode froze the guest"

    frozen = ok(run_module("domain_guest", guest_args(healthy, fsfreeze={"state": "frozen"})))
    assert frozen["changed"] is True
    assert frozen["fsfreeze"] == {"status_before": "thawed", "status": "frozen", "filesystems": 1}
    assert freeze_status(healthy) == "frozen"
    again = ok(run_module("domain_guest", guest_args(healthy, fsfreeze={"state": "frozen"})))
    assert again["changed"] is False and again["fsfreeze"]["status"] == "frozen"

    thawed = ok(run_module("domain_guest", guest_args(healthy, fsfreeze={"state": "thawed"})))
    assert thawed["changed"] is True
    assert thawed["fsfreeze"] == {"status_before": "frozen", "status": "thawed", "filesystems": 1}
    assert freeze_status(healthy) == "thawed"
    again = ok(run_module("domain_guest", guest_args(healthy, fsfreeze={"state": "thawed"})))
    assert again["changed"] is False


def test_freeze_of_the_data_mountpoint_only(healthy):
    frozen = ok(run_module("domain_guest", guest_args(healthy, fsfreeze={"state": "frozen", "mountpoints": [DATA]})))
    assert frozen["changed"] is True and frozen["fsfreeze"]["filesystems"] == 1
    assert freeze_status(healthy) == "frozen"


def test_a_freeze_of_a_mountpoint_the_guest_does_not_have_is_an_error_not_a_silent_nothing(healthy):
    """libvirt freezes 0 file systems for an unknown mount point without any error (GUEST-RIG-FACTS)."""
    result = run_module("domain_guest", guest_args(healthy, fsfreeze={"state": "frozen", "mountpoints": ["/no/such"]}))
    assert freeze_status(healthy) == "thawed"
    assert result.get("failed") is True or result["fsfreeze"]["status"] != "frozen", \
        f"reported {result.get('fsfreeze')} while the agent says thawed"


def test_a_freeze_with_an_agent_call_after_it_is_refused_before_the_freeze(healthy):
    """fstrim runs after the freeze, and a frozen guest's agent refuses it: refused up front, never frozen."""
    failed = run_module("domain_guest", guest_args(healthy, fsfreeze={"state": "frozen"}, fstrim={"minimum": 0}))
    assert failed.get("failed") is True, failed
    assert healthy.name() in failed["msg"] and "fsfreeze: frozen" in failed["msg"] and "fstrim" in failed["msg"]
    assert failed["changed"] is False
    assert freeze_status(healthy) == "thawed"


def test_a_module_process_terminated_while_frozen_thaws_the_guest(healthy, tmp_path):
    """SIGTERM to the module process during a core dump that follows the freeze: the guest ends up thawed."""
    args = guest_args(healthy, fsfreeze={"state": "frozen"},
                      core_dump={"path": f"{rig_env.IMAGES_DIR}/{healthy.name()}.core", "format": "kdump-zlib",
                                 "memory_only": True})
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    process = subprocess.Popen(
        [sys.executable, "-m", "ansible_collections.virtops.libvirt.plugins.modules.domain_guest", str(args_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=module_environment())
    try:
        deadline = time.monotonic() + 60
        while freeze_status(healthy) != "frozen":
            assert process.poll() is None, f"the module ended before the guest was frozen: {process.communicate()}"
            assert time.monotonic() < deadline, "the guest was never frozen"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        try:
            os.unlink(f"{rig_env.IMAGES_DIR}/{healthy.name()}.core")
        except FileNotFoundError:
            pass
    assert "Traceback" not in out + err, out + err
    assert freeze_status(healthy) == "thawed"


def test_fstrim_reports_each_mountpoint_of_the_guest(healthy):
    mountpoints = [entry[0] for entry in healthy.fsInfo(0)]
    assert mountpoints == [DATA]
    planned = ok(run_module("domain_guest", guest_args(healthy, fstrim={"minimum": 0}), check_mode=True))
    assert planned["changed"] is True and planned["fstrim"]["mountpoints"] == []
    trimmed = ok(run_module("domain_guest", guest_args(healthy, fstrim={"minimum": 0})))
    assert trimmed["changed"] is True
    assert [entry["mountpoint"] for entry in trimmed["fstrim"]["mountpoints"]] == mountpoints
    entry = trimmed["fstrim"]["mountpoints"][0]
    assert entry["error"] is None and isinstance(entry["trimmed"], int) and entry["trimmed"] >= 0
    big = ok(run_module("domain_guest", guest_args(healthy, fstrim={"minimum": 1 << 20})))
    assert big["fstrim"]["minimum"] == 1 << 20 and big["fstrim"]["mountpoints"][0]["minimum"] == 1 << 20


# ----------------------------------------------------------------------------------------- users
def keys_task(dom, keys, state, user=USER):
    return guest_args(dom, users=[{"name": user, "ssh_keys": keys, "ssh_keys_state": state}])


def test_ssh_keys_exact_present_absent_each_second_run_unchanged(healthy):
    rig_env.guest_shell(healthy, f"rm -rf {home(USER)}/.ssh")  # a fresh account: no authorized_keys file at all

    planned = ok(run_module("domain_guest", keys_task(healthy, [KEY_1, KEY_2], "exact"), check_mode=True))
    assert planned["changed"] is True and sorted(planned["users"][0]["keys_after"]) == sorted([KEY_1, KEY_2])
    assert guest_keys(healthy) == [], "check mode wrote keys"

    steps = [([KEY_1, KEY_2], "exact", [KEY_1, KEY_2]),
             ([KEY_3], "present", [KEY_1, KEY_2, KEY_3]),
             ([KEY_1, KEY_3], "absent", [KEY_2]),
             ([KEY_3], "exact", [KEY_3])]
    for keys, state, expected in steps:
        first = ok(run_module("domain_guest", keys_task(healthy, keys, state)))
        assert first["changed"] is True, (state, first)
        assert sorted(first["users"][0]["keys_after"]) == sorted(expected), (state, first["users"])
        assert guest_keys(healthy) == sorted(expected), state
        second = ok(run_module("domain_guest", keys_task(healthy, keys, state)))
        assert second["changed"] is False, (state, second.get("actions"))
        assert sorted(second["users"][0]["keys_before"]) == sorted(expected)
        assert guest_keys(healthy) == sorted(expected), state


def test_ssh_keys_of_an_unknown_user_fail_clearly(healthy):
    failed = run_module("domain_guest", keys_task(healthy, [KEY_1], "exact", user="nobody-here"))
    assert failed.get("failed") is True, failed
    assert "nobody-here" in failed["msg"] and healthy.name() in failed["msg"]


def shadow_hash(dom, user=USER):
    return rig_env.guest_shell(dom, f"grep '^{user}:' /etc/shadow").split(":")[1]


def test_a_password_is_set_and_appears_in_no_result_or_diff(healthy):
    password = "Pw-virtops-7Qz!"
    before = shadow_hash(healthy)
    planned = ok(run_module("domain_guest", guest_args(healthy, users=[{"name": USER, "password": password}]),
                            check_mode=True, diff=True))
    assert planned["changed"] is True and planned["users"][0]["password_set"] is True
    assert shadow_hash(healthy) == before, "check mode set the password"
    result = ok(run_module("domain_guest", guest_args(healthy, users=[{"name": USER, "password": password}]),
                           diff=True))
    assert result["changed"] is True and result["users"] == [{"name": USER, "password_set": True}]
    after = shadow_hash(healthy)
    assert after != before and after.startswith("$"), after
    for shown in (planned, result):
        assert password not in json.dumps(shown)
    again = ok(run_module("domain_guest", guest_args(healthy, users=[{"name": USER, "password": password}])))
    assert again["changed"] is True, "update_password=always cannot compare, so it reports changed"


def test_an_encrypted_password_is_stored_as_given(healthy):
    hashed = "$6$virtopssalt$Gf0z4l1f4vZ0ZC3qf3I6Cq1uJY8bX1b2m0Wq7yGm8f2Yf3qZkQwA4Kc0d7vL4s2r9eS9xWcN1mT3uY5iJ7kP1"
    user = {"name": USER, "password": hashed, "password_encrypted": True}
    ok(run_module("domain_guest", guest_args(healthy, users=[user])))
    assert shadow_hash(healthy) == hashed


def test_a_failing_password_set_does_not_show_the_password(healthy):
    password = "Pw-unknown-user-4Kx"
    failed = run_module("domain_guest", guest_args(healthy, users=[{"name": "nobody-here", "password": password}]))
    assert failed.get("failed") is True, failed
    assert "nobody-here" in failed["msg"]
    assert password not in json.dumps(failed)


def test_no_password_in_ansible_playbook_vvv_diff_output(healthy, tmp_path):
    """The password comes from a variable, as from a vault (ansible itself prints the source lines of a failing
    task, so a literal in the playbook would show there whatever the module does)."""
    password = "Pw-playbook-9Lm#"
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"guest_password": password}))
    playbook = tmp_path / "users.yml"
    playbook.write_text(f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - virtops.libvirt.domain_guest:
        uri: {URI}
        name: {healthy.name()}
        agent_timeout: {AGENT_TIMEOUT}
        users:
          - name: {USER}
            password: "{{{{ guest_password }}}}"
            ssh_keys: ["{KEY_1}"]
    - virtops.libvirt.domain_guest:
        uri: {URI}
        name: {healthy.name()}
        agent_timeout: {AGENT_TIMEOUT}
        users:
          - name: nobody-here
            password: "{{{{ guest_password }}}}"
      ignore_errors: true
""")
    completed = subprocess.run(["ansible-playbook", "-vvv", "--diff", "-i", "localhost,", "-c", "local",
                                "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"@{secrets}",
                                str(playbook)],
                               capture_output=True, text=True, env=module_environment(), timeout=600, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0 and "changed=1" in output and "ignored=1" in output, output
    assert "nobody-here" in output
    assert password not in output, "the password appeared in the ansible-playbook -vvv --diff output"


# ----------------------------------------------------------------------------------------- time, vcpus
def test_time_sync_corrects_a_skew_set_inside_the_guest(healthy):
    rig_env.guest_shell(healthy, "date -s @$(( $(date +%s) - 3600 )) >/dev/null")
    assert guest_skew(healthy) < -3500
    planned = ok(run_module("domain_guest", guest_args(healthy, time="sync"), check_mode=True))
    assert planned["changed"] is True and guest_skew(healthy) < -3500
    synced = ok(run_module("domain_guest", guest_args(healthy, time="sync")))
    assert synced["changed"] is True and synced["time"]["mode"] == "sync"
    assert -3700 < synced["time"]["skew_before"] < -3500
    assert abs(synced["time"]["skew_after"]) <= 1.5, synced["time"]
    assert abs(guest_skew(healthy)) <= 1.5
    again = ok(run_module("domain_guest", guest_args(healthy, time="sync")))
    assert again["changed"] is False, again["time"]


def test_time_sync_corrects_a_skew_the_module_itself_set(healthy):
    """A set writes the guest's RTC too (qemu-ga hwclock -w); a sync that only re-reads that RTC keeps the skew."""
    moment = int(time.time()) - 3600
    set_back = ok(run_module("domain_guest", guest_args(healthy, time=str(moment))))
    assert set_back["changed"] is True and set_back["time"]["mode"] == "set"
    assert -3610 < set_back["time"]["skew_after"] < -3590
    assert -3610 < guest_skew(healthy) < -3590
    synced = ok(run_module("domain_guest", guest_args(healthy, time="sync")))
    assert synced["changed"] is True
    assert abs(synced["time"]["skew_after"]) <= 1.5, synced["time"]
    assert abs(guest_skew(healthy)) <= 1.5, f"the guest is still off by {guest_skew(healthy):.1f} s after time: sync"


def test_time_set_to_an_iso_moment(healthy):
    result = ok(run_module("domain_guest", guest_args(healthy, time="2030-01-02T03:04:05Z")))
    assert result["changed"] is True
    assert abs(healthy.getTime(0)["seconds"] - 1893553445) <= 2


def test_vcpus_online_compared_first(healthy):
    assert healthy.guestVcpus(0)["online"] == "0-1"
    planned = ok(run_module("domain_guest", guest_args(healthy, vcpus_online="0"), check_mode=True))
    assert planned["changed"] is True and healthy.guestVcpus(0)["online"] == "0-1"
    one = ok(run_module("domain_guest", guest_args(healthy, vcpus_online="0")))
    assert one["changed"] is True and one["vcpus"] == {"before": "0-1", "after": "0", "vcpus": "0-1"}
    assert healthy.guestVcpus(0)["online"] == "0"
    assert ok(run_module("domain_guest", guest_args(healthy, vcpus_online="0")))["changed"] is False
    both = ok(run_module("domain_guest", guest_args(healthy, vcpus_online="0-1")))
    assert both["changed"] is True and healthy.guestVcpus(0)["online"] == "0-1"


def test_vcpus_online_the_guest_cannot_do_fail_with_nothing_changed(healthy):
    missing = run_module("domain_guest", guest_args(healthy, vcpus_online="0-5"))
    assert missing.get("failed") is True and "5" in missing["msg"], missing
    stuck = run_module("domain_guest", guest_args(healthy, vcpus_online="1"))
    assert stuck.get("failed") is True and "0" in stuck["msg"], stuck
    assert healthy.guestVcpus(0)["online"] == "0-1"


# ----------------------------------------------------------------------------------------- gather
def virsh(*args):
    completed = subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, check=True, timeout=60)
    return completed.stdout


def test_gather_equals_what_virsh_reports(healthy):
    facts = ok(run_module("domain_guest", guest_args(healthy, gather=["all"])))["facts"]
    assert facts["hostname"] == virsh("domhostname", "--source", "agent", healthy.name()).strip() == rig_env.GUEST_HOSTNAME

    # virsh domfsinfo: Mountpoint Name Type Target
    rows = [line.split() for line in virsh("domfsinfo", healthy.name()).splitlines()[2:] if line.strip()]
    assert [(fs["mountpoint"], fs["name"], fs["fstype"]) for fs in facts["filesystems"]] == \
        [(row[0], row[1], row[2]) for row in rows]
    assert [disk["alias"] for disk in facts["filesystems"][0]["disk"]] == [rows[0][3]]

    # virsh domifaddr --source agent: Name MAC address Protocol Address
    listing = virsh("domifaddr", "--source", "agent", healthy.name())
    shown = re.findall(r"^\s*(\S+)\s+(\S+)\s+(ipv4|ipv6)\s+(\S+)/(\d+)", listing, re.M)
    gathered = {(entry["address"], int(entry["prefix"])) for entry in facts["interfaces"]}
    assert gathered == {(address, int(prefix)) for _name, _mac, _family, address, prefix in shown}

    guestinfo = dict(re.findall(r"^(\S+)\s*:\s*(.*)$", virsh("guestinfo", healthy.name()), re.M))
    assert facts["os"]["id"] == guestinfo["os.id"] and facts["os"]["kernel_release"] == guestinfo["os.kernel-release"]
    assert facts["timezone"]["name"] == guestinfo["timezone.name"]
    assert facts["vcpus"]["online"] == "0-1"
    assert abs(facts["time"]["skew"]) < 2


def test_gather_while_frozen_does_not_report_empty_facts(healthy):
    """While frozen the agent refuses most reads; guestInfo then answers {} without an error (GUEST-RIG-FACTS)."""
    healthy.fsFreeze(None, 0)
    result = run_module("domain_guest", guest_args(healthy, gather=["hostname", "filesystems"]))
    assert result.get("failed") is True or result["facts"].get("hostname") == rig_env.GUEST_HOSTNAME, result


# ----------------------------------------------------------------------------------------- exec
def test_exec_with_stdin_returns_output_and_rc(healthy):
    result = ok(run_module("domain_guest", guest_args(healthy, exec={
        "argv": ["/bin/sh", "-c", "read line; echo \"got $line\"; echo warn >&2; echo $MARK"],
        "stdin": "hello guest", "env": {"MARK": "from-env"}})))
    assert result["changed"] is True
    assert result["exec"]["rc"] == 0
    assert result["exec"]["stdout"] == "got hello guest\nfrom-env"
    assert result["exec"]["stderr"] == "warn"


def test_exec_with_a_non_zero_rc_fails_like_command(healthy):
    failed = run_module("domain_guest", guest_args(healthy, exec={"argv": ["/bin/sh", "-c", "echo out; exit 3"]}))
    assert failed.get("failed") is True and failed["exec"]["rc"] == 3 and failed["exec"]["stdout"] == "out", failed


def test_exec_creates_makes_it_a_no_op(healthy):
    marker = f"{DATA}/created-by-exec"
    rig_env.guest_shell(healthy, f"rm -f {marker}")
    task = {"argv": ["/bin/sh", "-c", f"echo run >> {marker}"], "creates": marker}
    first = ok(run_module("domain_guest", guest_args(healthy, exec=task)))
    assert first["changed"] is True and first["exec"]["rc"] == 0
    second = ok(run_module("domain_guest", guest_args(healthy, exec=task)))
    assert second["changed"] is False and second["exec"]["skipped"] is True
    assert rig_env.guest_shell(healthy, f"cat {marker}") == "run\n", "the command ran again"
    removes = ok(run_module("domain_guest", guest_args(healthy, exec={"argv": ["/bin/rm", marker], "removes": marker})))
    assert removes["changed"] is True
    assert ok(run_module("domain_guest", guest_args(healthy, exec={"argv": ["/bin/rm", marker],
                                                                   "removes": marker})))["changed"] is False


# ----------------------------------------------------------------------------------------- console actions
def test_a_screenshot_is_written_and_is_a_valid_png(healthy, tmp_path):
    path = tmp_path / "screen.png"
    planned = ok(run_module("domain_guest", guest_args(healthy, screenshot={"path": str(path)}), check_mode=True))
    assert planned["changed"] is True and not path.exists()
    result = ok(run_module("domain_guest", guest_args(healthy, screenshot={"path": str(path)})))
    assert result["changed"] is True
    data = path.read_bytes()
    assert result["screenshot"]["mime_type"] == "image/png" and result["screenshot"]["size"] == len(data)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 0 and height > 0


def test_an_nmi_reaches_the_guest_kernel(healthy):
    since = rig_env.serial_log_size(healthy.name())
    result = ok(run_module("domain_guest", guest_args(healthy, nmi=True)))
    assert result["changed"] is True
    deadline = time.monotonic() + 20
    while b"NMI received" not in open(rig_env.serial_log_path(healthy.name()), "rb").read()[since:]:
        assert time.monotonic() < deadline, "the guest's console never showed the NMI"
        time.sleep(0.2)


def keyboard_interrupts(dom):
    line = [row for row in rig_env.guest_shell(dom, "cat /proc/interrupts").splitlines()
            if row.strip().startswith("1:")][0]
    return sum(int(field) for field in line.split()[1:] if field.isdigit())  # every vCPU's column


def test_a_key_press_reaches_the_guests_keyboard(healthy):
    before = keyboard_interrupts(healthy)
    planned = ok(run_module("domain_guest", guest_args(healthy, send_keys={"keys": ["KEY_A"]}), check_mode=True))
    assert planned["changed"] is True and keyboard_interrupts(healthy) == before
    result = ok(run_module("domain_guest", guest_args(healthy, send_keys={"keys": ["KEY_A"], "hold_time": 50})))
    assert result["changed"] is True
    assert keyboard_interrupts(healthy) >= before + 2, "no press and release reached the guest's i8042"


def test_a_process_signal_is_refused_clearly_by_qemu(healthy):
    failed = run_module("domain_guest", guest_args(healthy, signal={"pid": 1, "signal": "SIGCONT"}))
    assert failed.get("failed") is True and failed["changed"] is False, failed
    assert healthy.name() in failed["msg"]


def test_a_core_dump_is_written_in_the_format_asked_and_an_unsupported_one_fails_clearly(healthy):
    path = f"{rig_env.IMAGES_DIR}/{healthy.name()}-dump.core"
    task = {"path": path, "format": "kdump-zlib", "memory_only": True}
    try:
        planned = ok(run_module("domain_guest", guest_args(healthy, core_dump=task), check_mode=True))
        assert planned["changed"] is True and not os.path.exists(path)
        result = ok(run_module("domain_guest", guest_args(healthy, core_dump=task)))
        assert result["changed"] is True
        with open(path, "rb") as dump:
            assert dump.read(8) == b"makedump"  # makedumpfile's kdump-compressed header
        os.unlink(path)
        failed = run_module("domain_guest", guest_args(healthy, core_dump={**task, "format": "kdump-lzo"}))
        assert failed.get("failed") is True and "kdump-lzo" in failed["msg"], failed
        assert not os.path.exists(path)
        assert healthy.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    finally:
        if os.path.exists(path):
            os.unlink(path)


# ----------------------------------------------------------------------------------------- never hang
STOPPED_LINE = "virtops-test: agent stopped"

# each: the options of one task that needs the agent, and a word its error must have to name the call (or the option)
AGENT_TASKS = {
    "fsfreeze": ({"fsfreeze": {"state": "frozen"}}, "freeze"),
    "fstrim": ({"fstrim": {"minimum": 0}}, "fstrim"),
    "ssh-keys": ({"users": [{"name": USER, "ssh_keys": [KEY_1], "ssh_keys_state": "present"}]}, "ssh key"),
    "password": ({"users": [{"name": USER, "password": "Pw-stopped-3Df"}]}, "password"),
    "time": ({"time": "sync"}, "time"),
    "vcpus": ({"vcpus_online": "0-1"}, "vcpu"),
    "exec": ({"exec": {"argv": ["/bin/true"]}}, "exec"),
    "gather-all": ({"gather": ["all"]}, "agent"),
    "gather-hostname-os": ({"gather": ["hostname", "os"]}, "agent"),
    "gather-vcpus": ({"gather": ["vcpus"]}, "agent"),
}


def stop_agent(dom, seconds):
    """The guest stops its own qemu-ga (SIGSTOP) for SECONDS: the channel stays connected, nothing answers."""
    since = rig_env.serial_log_size(dom.name())
    script = (f"(sleep 1; kill -STOP $(pidof qemu-ga); echo '{STOPPED_LINE}' > /dev/ttyS0; "
              f"sleep {seconds}; kill -CONT $(pidof qemu-ga)) >/dev/null 2>&1 </dev/null &")
    rig_env.agent_command(dom, "guest-exec", {"path": "/bin/sh", "arg": ["-c", script]})
    deadline = time.monotonic() + 30
    while STOPPED_LINE.encode() not in open(rig_env.serial_log_path(dom.name()), "rb").read()[since:]:
        assert time.monotonic() < deadline, "the guest did not stop its agent"
        time.sleep(0.1)


def slow_or_unclear(dom, options, limit, call_word):
    """Run one task; say what is wrong (did not fail, took too long, message unclear) or return None."""
    try:
        result = run_module("domain_guest", guest_args(dom, **options))
    except AssertionError as error:  # run_module found a traceback
        return f"traceback: {str(error).strip().splitlines()[-1]}"
    if result.get("failed") is not True:
        return f"did not fail: {result}"
    if result.seconds >= limit:
        return f"took {result.seconds:.1f} s (limit {limit} s): {result['msg']}"
    named = call_word in result["msg"].lower() or any(option in result["msg"] for option in options)
    if dom.name() not in result["msg"] or not named:
        return f"unclear: {result['msg']}"
    if "Pw-stopped" in json.dumps(result):
        return "the password is in the result"
    return None


def every_agent_task(dom):
    """{task label: what is wrong with it or None}, each task bounded by AGENT_TIMEOUT + 1 s."""
    return {label: slow_or_unclear(dom, options, AGENT_TIMEOUT + 1, word) for label, (options, word) in AGENT_TASKS.items()}


def assert_no_problems(problems):
    bad = {label: problem for label, problem in problems.items() if problem}
    assert bad == {}, "\n".join(f"{label}: {problem}" for label, problem in bad.items())


def test_a_stopped_agent_fails_every_task_clearly_within_the_agent_timeout(healthy):
    stop_agent(healthy, 90)
    problems = every_agent_task(healthy)
    waited = run_module("domain_guest", guest_args(healthy, wait_for_agent=4))
    problems["wait_for_agent"] = None if waited.get("failed") and waited.seconds < 4 + 1 else \
        f"{waited.seconds:.1f} s: {waited}"
    assert_no_problems(problems)


def test_a_killed_agent_fails_at_once(healthy):
    """qemu-ga gone (the channel stays): libvirt says 'not connected' at once. The guest keeps no agent after this."""
    rig_env.wait_agent(healthy, timeout=150)  # after the stopped-agent test, the guest resumes its agent itself
    rig_env.agent_command(healthy, "guest-exec", {"path": "/bin/sh", "arg": [
        "-c", "(sleep 0.5; kill -9 $(pidof qemu-ga)) >/dev/null 2>&1 </dev/null &"]})
    time.sleep(2)
    problems = every_agent_task(healthy)
    assert_no_problems(problems)


def test_a_guest_without_an_agent_channel_fails_clearly_at_once(rig, host_a, guest_name):
    rig_env.cleanup_domain(host_a, SHARED_NAME)  # one guest of ours at a time: the shared one is done
    dom = rig_env.define_guest(host_a, guest_name, data_disk=False, agent=False, agent_channel=False)
    rig_env.wait_booted(dom, timeout=120)
    problems = every_agent_task(dom)
    assert_no_problems(problems)
