# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The typed tuning calls of one domain (domain_tune): vCPUs, memory, pinning, IOThreads, scheduler, more.

Each libvirt method is called from exactly one method here, named after it in snake case. The reads
domain_info shares (vcpuPinInfo, emulatorPinInfo, ioThreadInfo, memoryParameters, numaParameters,
schedulerParametersFlags, perfEvents) stay in _domain_calls.DetailReads, which TuneCalls extends,
so a group reads and writes through one object. Setters of an absolute value are safe to repeat
(idempotent); adding or removing an IOThread and renaming are not.
"""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._domain_calls import DetailReads
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import LibvirtCallError
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag


class TuneCalls(DetailReads):
    """Tuning of one domain; `flags` are VIR_DOMAIN_AFFECT_LIVE / _CONFIG plus each call's own."""

    # --- the host ---
    def host_cpu_map(self) -> tuple[int, tuple[bool, ...], int]:
        """The host's CPUs: (count, online map, online count), virConnectGetCPUMap."""
        connection = self.domain.connection
        return connection.invoke("read the host's CPU map", connection.conn.getCPUMap, 0, idempotent=True)

    def host_capabilities(self) -> str:
        """The host's capabilities XML (its NUMA cells among them), virConnectGetCapabilities."""
        connection = self.domain.connection
        return connection.invoke("read the host's capabilities", connection.conn.getCapabilities, idempotent=True)

    # --- vCPUs ---
    def vcpus_flags(self, flags: int) -> int:
        return int(self.domain.read("read the vCPU count", self.virdomain.vcpusFlags, flags))

    def set_vcpus_flags(self, count: int, flags: int) -> None:
        self.domain.invoke(f"set the vCPU count to {count}", self.virdomain.setVcpusFlags, count, flags,
                           idempotent=True)

    def set_vcpu(self, vcpumap: str, enable: bool, flags: int) -> None:
        """Enable or disable the vCPUs of a CPU list ("1,3"), virDomainSetVcpu."""
        self.domain.invoke(f"{'enable' if enable else 'disable'} vCPUs {vcpumap}", self.virdomain.setVcpu, vcpumap,
                           int(enable), flags, idempotent=True)

    def pin_vcpu_flags(self, vcpu: int, cpumap: tuple[bool, ...], flags: int) -> None:
        self.domain.invoke(f"pin vCPU {vcpu}", self.virdomain.pinVcpuFlags, vcpu, cpumap, flags, idempotent=True)

    def pin_emulator(self, cpumap: tuple[bool, ...], flags: int) -> None:
        self.domain.invoke("pin the emulator threads", self.virdomain.pinEmulator, cpumap, flags, idempotent=True)

    # --- memory (sizes in KiB, as libvirt) ---
    def info(self) -> list[Any]:
        """[state, maximum memory KiB, memory KiB, vCPUs, CPU time ns], virDomainGetInfo."""
        return list(self.domain.read("read domain info", self.virdomain.info))

    def max_memory(self) -> int:
        return int(self.domain.read("read the maximum memory", self.virdomain.maxMemory))

    def memory_stats(self) -> dict[str, int]:
        """A running domain's balloon statistics (actual, available, unused... in KiB)."""
        return dict(self.domain.read("read memory statistics", self.virdomain.memoryStats))

    def set_memory_flags(self, kib: int, flags: int, what: str = "memory") -> None:
        self.domain.invoke(f"set {what} to {kib} KiB", self.virdomain.setMemoryFlags, kib, flags, idempotent=True)

    def set_max_memory(self, kib: int) -> None:
        self.domain.invoke(f"set the maximum memory to {kib} KiB", self.virdomain.setMaxMemory, kib, idempotent=True)

    def set_memory_stats_period(self, period: int, flags: int) -> None:
        self.domain.invoke(f"set the memory statistics period to {period} s", self.virdomain.setMemoryStatsPeriod,
                           period, flags, idempotent=True)

    def set_memory_parameters(self, params: dict[str, Any], flags: int) -> None:
        self.domain.invoke("set memory tuning", self.virdomain.setMemoryParameters, params, flags, idempotent=True)

    def set_numa_parameters(self, params: dict[str, Any], flags: int) -> None:
        self.domain.invoke("set NUMA tuning", self.virdomain.setNumaParameters, params, flags, idempotent=True)

    # --- IOThreads ---
    def add_io_thread(self, iothread: int, flags: int) -> None:
        self.domain.invoke(f"add IOThread {iothread}", self.virdomain.addIOThread, iothread, flags)

    def del_io_thread(self, iothread: int, flags: int) -> None:
        self.domain.invoke(f"remove IOThread {iothread}", self.virdomain.delIOThread, iothread, flags)

    def pin_io_thread(self, iothread: int, cpumap: tuple[bool, ...], flags: int) -> None:
        self.domain.invoke(f"pin IOThread {iothread}", self.virdomain.pinIOThread, iothread, cpumap, flags,
                           idempotent=True)

    def set_io_thread_params(self, iothread: int, params: dict[str, Any], flags: int) -> None:
        self.domain.invoke(f"set parameters of IOThread {iothread}", self.virdomain.setIOThreadParams, iothread,
                           params, flags, idempotent=True)

    # --- scheduler, network bandwidth, perf events ---
    def set_scheduler_parameters_flags(self, params: dict[str, Any], flags: int) -> None:
        self.domain.invoke("set scheduler parameters", self.virdomain.setSchedulerParametersFlags, params, flags,
                           idempotent=True)

    def interface_parameters(self, device: str, flags: int) -> dict[str, Any]:
        return dict(self.domain.read(f"read bandwidth of interface {device}", self.virdomain.interfaceParameters,
                                     device, flags))

    def set_interface_parameters(self, device: str, params: dict[str, Any], flags: int) -> None:
        self.domain.invoke(f"set bandwidth of interface {device}", self.virdomain.setInterfaceParameters, device,
                           params, flags, idempotent=True)

    def set_perf_events(self, params: dict[str, bool], flags: int) -> None:
        self.domain.invoke("set perf events", self.virdomain.setPerfEvents, params, flags, idempotent=True)

    # --- metadata and name ---
    def metadata(self, kind: int, uri: Optional[str], flags: int, what: str = "metadata") -> Optional[str]:
        """A metadata value (title, description or the custom element of `uri`); None when it has none."""
        try:
            return self.domain.read(f"read {what}", self.virdomain.metadata, kind, uri, flags)
        except LibvirtCallError as error:
            if error.code == flag("VIR_ERR_NO_DOMAIN_METADATA"):
                return None
            raise

    def rename(self, new_name: str) -> None:
        self.domain.invoke(f"rename to '{new_name}'", self.virdomain.rename, new_name, 0)
