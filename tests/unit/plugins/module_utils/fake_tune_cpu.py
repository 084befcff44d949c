"""A test-driver domain with the CPU tuning calls the test driver lacks, kept in Python.

`TuneProxy` wraps a real virDomain of `test:///default` and forwards every call to it, except the
ones the test driver refuses (pinVcpuFlags with LIVE/CONFIG, setVcpu, VCPU_GUEST, scheduler
parameters with flags, setIOThreadParams): those act on state held here, and XMLDesc shows that
state (<vcpus> enabled vCPUs, thread pool bounds) like QEMU's definitions do.
"""

import re

import libvirt

from ansible_collections.virtops.libvirt.plugins.module_utils._cpulist import parse

LIVE, CONFIG = libvirt.VIR_DOMAIN_AFFECT_LIVE, libvirt.VIR_DOMAIN_AFFECT_CONFIG
SCHEDULER = {"cpu_shares": 1024, "vcpu_period": 100000, "vcpu_quota": -1, "emulator_period": 100000,
             "emulator_quota": -1, "global_period": 100000, "global_quota": -1, "iothread_period": 100000,
             "iothread_quota": -1}


def _scope(flags):
    return CONFIG if flags & CONFIG else LIVE


class TuneProxy:
    """A real test-driver virDomain plus the tuning state the test driver cannot keep."""

    def __init__(self, real, host_cpus=8):
        self.real = real
        self.host_cpus = host_cpus
        self.calls = []
        self.pins = {LIVE: {}, CONFIG: {}}
        self.enabled = None  # {scope: set of vCPUs} once setVcpu is used
        self.guest_count = None
        self.scheduler = {LIVE: dict(SCHEDULER), CONFIG: dict.fromkeys(SCHEDULER, 0)}
        self.iothread_params = {LIVE: {}, CONFIG: {}}
        self.stats = {}

    def __getattr__(self, name):
        return getattr(self.real, name)

    # --- vCPU pinning: the test driver pins only with flags 0 ---
    def pinVcpuFlags(self, vcpu, cpumap, flags):  # pylint: disable=invalid-name
        self.calls.append(("pinVcpuFlags", vcpu, tuple(cpumap), flags))
        self.pins[_scope(flags)][vcpu] = tuple(cpumap) + (False,) * (self.host_cpus - len(cpumap))

    def vcpuPinInfo(self, flags):  # pylint: disable=invalid-name
        found = self.real.vcpuPinInfo(flags)
        return [self.pins[_scope(flags)].get(vcpu, cpumap) for vcpu, cpumap in enumerate(found)]

    # --- vCPU counts: which vCPUs are enabled, and the guest's own count ---
    def enable_vcpus(self, live, config):
        """From now on the vCPUs enabled per scope are kept here (as QEMU's <vcpus> shows them)."""
        self.enabled = {LIVE: set(live), CONFIG: set(config)}

    def setVcpu(self, vcpumap, state, flags):  # pylint: disable=invalid-name
        self.calls.append(("setVcpu", vcpumap, state, flags))
        vcpus = set(parse(vcpumap, "vcpumap"))
        enabled = self.enabled[_scope(flags)]
        self.enabled[_scope(flags)] = enabled | vcpus if state else enabled - vcpus

    def vcpusFlags(self, flags):  # pylint: disable=invalid-name
        if flags & libvirt.VIR_DOMAIN_VCPU_GUEST:
            return self.guest_count
        if self.enabled is not None and not flags & libvirt.VIR_DOMAIN_VCPU_MAXIMUM:
            return len(self.enabled[_scope(flags)])
        return self.real.vcpusFlags(flags)

    def setVcpusFlags(self, count, flags):  # pylint: disable=invalid-name
        self.calls.append(("setVcpusFlags", count, flags))
        if flags & libvirt.VIR_DOMAIN_VCPU_GUEST:
            self.guest_count = count
            return
        self.real.setVcpusFlags(count, flags)

    # --- scheduler and IOThread parameters ---
    def schedulerParametersFlags(self, flags):  # pylint: disable=invalid-name
        return dict(self.scheduler[_scope(flags)])

    def setSchedulerParametersFlags(self, params, flags):  # pylint: disable=invalid-name
        self.calls.append(("setSchedulerParametersFlags", dict(params), flags))
        self.scheduler[_scope(flags)].update(params)

    def setIOThreadParams(self, iothread, params, flags):  # pylint: disable=invalid-name
        self.calls.append(("setIOThreadParams", iothread, dict(params), flags))
        if flags & CONFIG and any(key.startswith("poll") for key in params):
            raise libvirt.libvirtError("Operation not supported: configuring persistent polling values is not supported")
        if flags & LIVE and any(key.startswith("thread_pool") and value < 0 for key, value in params.items()):
            raise libvirt.libvirtError("Requested operation is not valid: thread_pool_min (-1) must be equal to or greater "
                                       "than 0 for live change")
        polling = any(key.startswith("poll") for key in params)
        # libvirt 9.0 (rig): a live call with polling values does not keep thread pool bounds in the definition
        kept = {key: value for key, value in params.items() if not (flags & LIVE and polling and key.startswith("thread"))}
        self.iothread_params[_scope(flags)].setdefault(iothread, {}).update(kept)
        for key, value in params.items():
            if key.startswith("poll") and flags & LIVE:
                self.stats[f"iothread.{iothread}.{key.replace('_', '-')}"] = value

    def XMLDesc(self, flags):  # pylint: disable=invalid-name
        text = self.real.XMLDesc(flags)
        scope = CONFIG if flags & libvirt.VIR_DOMAIN_XML_INACTIVE or not self.real.isActive() else LIVE
        if "<iothreadids>" not in text:  # the test driver leaves out the default ids 1..n; QEMU lists them
            ids = "".join(f"<iothread id='{number}'/>" for number, _cpumap in self.real.ioThreadInfo(scope))
            text = re.sub(r"(<iothreads>\d+</iothreads>)", rf"\1<iothreadids>{ids}</iothreadids>", text, count=1)
        for iothread, params in self.iothread_params[scope].items():
            attributes = "".join(f" {key}='{value}'" for key, value in params.items() if key.startswith("thread_pool"))
            text = text.replace(f"<iothread id='{iothread}'/>", f"<iothread id='{iothread}'{attributes}/>")
        shown = len(self.real.vcpuPinInfo(scope))
        beyond = "".join(f"<vcpupin vcpu='{vcpu}' cpuset='{','.join(str(cpu) for cpu, used in enumerate(cpumap) if used)}'/>"
                         for vcpu, cpumap in sorted(self.pins[scope].items()) if vcpu >= shown)
        if beyond:  # libvirt's vcpuPinInfo covers the current vCPUs; the definition keeps the others' pins
            text = re.sub(r"(<vcpu [^>]*>\d+</vcpu>)", rf"\1<cputune>{beyond}</cputune>", text, count=1)
        if self.enabled is not None:
            maximum = self.real.vcpusFlags(scope | libvirt.VIR_DOMAIN_VCPU_MAXIMUM)
            listed = "".join(f"<vcpu id='{vcpu}' enabled='{'yes' if vcpu in self.enabled[scope] else 'no'}' "
                             f"hotpluggable='{'no' if vcpu == 0 else 'yes'}'/>" for vcpu in range(maximum))
            text = re.sub(r"(<vcpu [^>]*>\d+</vcpu>)", rf"\1<vcpus>{listed}</vcpus>", text, count=1)
        return text
