"""A running domain with a guest agent, for domain_guest's unit tests (the test driver has no agent).

FakeGuestDomain implements the libvirt methods domain_guest calls and records them; it is wrapped by
the real Domain (error translation included). Raw agent commands reach `agent_command` through a
patched libvirt_qemu.qemuAgentCommand.
"""

import json
import time

import libvirt

from ansible_collections.virtops.libvirt.plugins.module_utils import _agent
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain

AGENT_CHANNEL = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel>"


def libvirt_error(message, code=libvirt.VIR_ERR_INTERNAL_ERROR):
    error = libvirt.libvirtError(message)
    error.get_error_code = lambda: code
    error.get_error_message = lambda: message
    return error


class NoEventsConn:
    def domainEventRegisterAny(self, *_args):  # noqa: N802
        raise libvirt.libvirtError("this driver sends no events")


class FakeGuestDomain:
    def __init__(self, devices=AGENT_CHANNEL):
        self.devices = devices
        self.calls = []
        self.keys = {"ops": ["ssh-ed25519 AAAAold ops@old"], "root": []}
        self.skew = 0.0
        self.rtc_skew = 0.0
        self.user_count = 1
        self.vcpu_state = {"vcpus": "0-3", "online": "0-3", "offlinable": "1-3"}
        self.freeze = "thawed"
        self.fail = {}
        self.silent = False  # libvirt 9.0 answers empty when a stopped agent let the call time out (rig)
        self.frozen_count = 2

    def name(self):
        return "guest-core"

    def UUIDString(self):  # noqa: N802
        return "77777777-7777-4777-8777-777777777777"

    def XMLDesc(self, _flags=0):  # noqa: N802
        return f"<domain type='kvm'><name>guest-core</name><devices>{self.devices}</devices></domain>"

    def _record(self, name, *args):
        self.calls.append((name, *args))
        if name in self.fail:
            raise self.fail[name]

    def agentSetResponseTimeout(self, seconds, _flags=0):  # noqa: N802
        self.calls.append(("agentSetResponseTimeout", seconds))
        return 0

    def getTime(self, _flags=0):  # noqa: N802
        self._record("getTime")
        now = time.time() + self.skew
        return {"seconds": int(now), "nseconds": int((now - int(now)) * 1e9)}

    def setTime(self, moment=None, flags=0):  # noqa: N802
        self._record("setTime", moment, flags)
        # qemu-ga's sync reads the RTC (hwclock -s), and a set writes the RTC too (hwclock -w)
        self.skew = self.rtc_skew if flags else moment["seconds"] + moment["nseconds"] / 1e9 - time.time()
        self.rtc_skew = self.skew
        return 0

    def guestVcpus(self, _flags=0):  # noqa: N802
        self._record("guestVcpus")
        return None if self.silent else dict(self.vcpu_state)

    def setGuestVcpus(self, cpumap, state, _flags=0):  # noqa: N802
        self._record("setGuestVcpus", cpumap, state)
        return 0

    def authorizedSSHKeysGet(self, user, _flags=0):  # noqa: N802
        self._record("authorizedSSHKeysGet", user)
        if user not in self.keys:
            raise libvirt_error("internal error: unable to execute QEMU agent command 'guest-ssh-get-authorized-keys': "
                                f"failed to read '/home/{user}/.ssh/authorized_keys': Failed to open file "
                                f"\u201c/home/{user}/.ssh/authorized_keys\u201d: No such file or directory")
        return list(self.keys.get(user, []))

    def authorizedSSHKeysSet(self, user, keys, flags=0):  # noqa: N802
        self._record("authorizedSSHKeysSet", user, list(keys), flags)
        current = self.keys.setdefault(user, [])
        if flags & libvirt.VIR_DOMAIN_AUTHORIZED_SSH_KEYS_SET_APPEND:
            current.extend(key for key in keys if key not in current)
        elif flags & libvirt.VIR_DOMAIN_AUTHORIZED_SSH_KEYS_SET_REMOVE:
            self.keys[user] = [key for key in current if key not in keys]
        else:
            self.keys[user] = list(keys)
        return 0

    def setUserPassword(self, user, password, flags=0):  # noqa: N802
        self.calls.append(("setUserPassword", user, "<password>", flags))
        if "setUserPassword" in self.fail:  # an error that quotes the password, as a careless agent might
            raise libvirt_error(f"chpasswd failed for '{user}:{password}'")
        return 0

    def fsFreeze(self, mountpoints=None, _flags=0):  # noqa: N802
        self._record("fsFreeze", mountpoints)
        if self.frozen_count:
            self.freeze = "frozen"
        return self.frozen_count

    def fsThaw(self, mountpoints=None, _flags=0):  # noqa: N802
        self._record("fsThaw", mountpoints)
        self.freeze = "thawed"
        return 2

    def guestInfo(self, types=0, _flags=0):  # noqa: N802
        self._record("guestInfo", types)
        if self.silent:
            return {}
        users = {"user.count": self.user_count, **({"user.0.name": "root"} if self.user_count else {})}
        return {**users, "hostname": "guest01", "os.id": "debian", "timezone.name": "UTC", "fs.count": 1, "fs.0.mountpoint": "/", "fs.0.fstype": "ext4",
                "fs.0.disk.count": 1, "fs.0.disk.0.alias": "vda"}

    def interfaceAddresses(self, source, _flags=0):  # noqa: N802
        self._record("interfaceAddresses", source)
        return {"eth0": {"hwaddr": "52:54:00:00:00:01", "addrs": [{"type": 0, "addr": "10.0.0.5", "prefix": 24}]}}

    def agent_command(self, request):
        """What qemuAgentCommand answers (as JSON text)."""
        command = json.loads(request)
        self._record("qemuAgentCommand", command["execute"])
        if command["execute"] == "guest-fsfreeze-status":
            return json.dumps({"return": self.freeze})
        if command["execute"] == "guest-fstrim":
            return json.dumps({"return": {"paths": [{"path": "/", "trimmed": 4096, "minimum": 0}]}})
        raise libvirt_error(f"unexpected agent command {command['execute']}")


def guest_domain(monkeypatch, virdomain=None):
    """(Domain, fake virDomain): raw agent commands answered by the fake."""
    virdomain = virdomain or FakeGuestDomain()
    connection = Connection(ConnectionParams(uri="test:///default"))
    connection._conn = NoEventsConn()

    class FakeQemu:
        @staticmethod
        def qemuAgentCommand(dom, request, _timeout, _flags):  # noqa: N802
            return dom.agent_command(request)

    monkeypatch.setattr(_agent, "libvirt_qemu", FakeQemu)
    return Domain(connection, virdomain), virdomain


def calls_named(virdomain, name):
    return [call for call in virdomain.calls if call[0] == name]
