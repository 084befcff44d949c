"""Fakes for block jobs, built on fake_jobs: a domain whose disks have images, block jobs and tuning.

`FakeBlockVirDomain` extends fake_jobs.FakeVirDomain with the virDomain block methods the typed
wrappers (_block_calls, DetailReads) call. A job becomes ready (copy, active commit) or completes
(pull, rebase, commit) `after` seconds, announced by a BLOCK_JOB_2 event unless `events` is False
(a lost event: the job's numbers still say where it is).
"""

import threading

import libvirt

from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import LibvirtCallError

from fake_jobs import FakeConnection, FakeError, FakeVirDomain

COPY, PULL, COMMIT, ACTIVE_COMMIT = (libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_COPY, libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_PULL,
                                     libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT,
                                     libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT)
GiB = 1024 ** 3
IOTUNE_KEYS = ("total_bytes_sec", "read_bytes_sec", "write_bytes_sec", "total_iops_sec", "group_name")


class FakeVolume:
    def __init__(self, virdomain, target):
        self.virdomain, self.target = virdomain, target

    def resize(self, capacity, what):
        self.virdomain.calls.append(("volume.resize", self.target, capacity, what))
        self.virdomain.capacity[self.target] = capacity


class FakeBlockConnection(FakeConnection):
    """Thresholds as the domain's block statistics show them; the disks' images as storage volumes."""

    def __init__(self):
        super().__init__()
        self.thresholds = {}
        self.virdomain = None
        self.pooled = True  # whether an active pool holds the images

    def storage_vol_lookup_by_path(self, path):
        if not self.pooled:
            raise LibvirtCallError("no volume", libvirt_message=f"Storage volume not found: no storage vol with matching path '{path}'")
        target = next(target for target, chain in self.virdomain.chains.items() if chain[0] == path)
        return FakeVolume(self.virdomain, target)

    def domain_list_get_stats(self, virdomains, _stats, _flags=0):
        stats = {"block.count": 1, "block.0.name": "vda"}
        if "vda" in self.thresholds:
            stats["block.0.threshold"] = self.thresholds["vda"]
        return [(virdomains[0], stats)]


class FakeBlockVirDomain(FakeVirDomain):
    """vda: top.qcow2 over base.qcow2 (1 GiB); vdb: data.raw without backing file."""

    def __init__(self, connection, after=0.05, events=True, outcome=libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED,
                 active=True):
        super().__init__(connection)
        self.after, self.events, self.outcome, self.active = after, events, outcome, active
        self.chains = {"vda": ["/img/top.qcow2", "/img/base.qcow2"], "vdb": ["/img/data.raw"]}
        self.capacity = {"vda": GiB, "vdb": GiB}
        self.iotune = {flags: dict.fromkeys(IOTUNE_KEYS, 0) | {"group_name": ""} for flags in (1, 2)}
        self.blkio = {flags: {"weight": 100, "device_weight": ""} for flags in (1, 2)}
        self.job = None  # {"disk", "type", "cur", "end", "bandwidth", "ready", "destination"}

    # --- state ---
    def isActive(self):
        return int(self.active)

    def isPersistent(self):
        return 1

    def XMLDesc(self, _flags):
        disks = "".join(self._disk_xml(target, chain) for target, chain in self.chains.items())
        return f"<domain type='qemu'><name>vm</name><devices>{disks}</devices></domain>"

    @staticmethod
    def _disk_xml(target, chain):
        backing = "<backingStore/>"
        for index, path in reversed(list(enumerate(chain[1:], start=1))):
            backing = (f"<backingStore type='file' index='{index}'><format type='qcow2'/>"
                       f"<source file='{path}'/>{backing}</backingStore>")
        return (f"<disk type='file' device='disk'><driver type='qcow2'/><source file='{chain[0]}' index='9'/>"
                f"{backing}<target dev='{target}'/></disk>")

    # --- block jobs ---
    def _start(self, disk, kind, **extra):
        self.calls.append(("start", kind))
        self.job = {"disk": disk, "type": kind, "cur": 0, "end": GiB, "bandwidth": 0, "ready": False, **extra}
        if self.after is not None:
            threading.Timer(self.after, self._progress).start()
        return 0

    def _progress(self):
        job = self.job
        if job is None:
            return
        job["cur"] = job["end"]
        if job["type"] in (COPY, ACTIVE_COMMIT):
            job["ready"] = True
            self._emit(job, libvirt.VIR_DOMAIN_BLOCK_JOB_READY)
            return
        self.job = None
        if self.outcome == libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED:
            self._apply(job)
        self._emit(job, self.outcome)

    def _emit(self, job, status):
        if self.events:
            self.connection.emit(libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2, job["disk"], job["type"], status)

    def _apply(self, job):
        chain = self.chains[job["disk"]]
        if job["type"] == PULL:
            keep = job.get("base")
            self.chains[job["disk"]] = chain[:1] + (chain[chain.index(keep):] if keep else [])
        elif job["type"] == COPY:
            self.chains[job["disk"]] = [job["destination"]]
        elif job["type"] == ACTIVE_COMMIT:
            self.chains[job["disk"]] = chain[1:]

    def blockCopy(self, disk, destxml, params, flags):
        self.calls.append(("blockCopy", destxml, dict(params or {}), flags))
        if not flags & libvirt.VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB:  # libvirt 9.0 on a persistent domain
            raise FakeError("Requested operation is not valid: domain is not transient")
        destination = destxml.split("file=\"")[1].split("\"")[0] if "file=\"" in destxml else "?"
        return self._start(disk, COPY, destination=destination)

    def blockPull(self, disk, bandwidth, flags):
        self.calls.append(("blockPull", bandwidth, flags))
        return self._start(disk, PULL)

    def blockRebase(self, disk, base, bandwidth, flags):
        self.calls.append(("blockRebase", base, bandwidth, flags))
        return self._start(disk, PULL, base=base)

    def blockCommit(self, disk, base, top, bandwidth, flags):
        self.calls.append(("blockCommit", base, top, bandwidth, flags))
        active = flags & libvirt.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE
        return self._start(disk, ACTIVE_COMMIT if active else COMMIT)

    def blockJobInfo(self, disk, flags):
        assert flags & libvirt.VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES, "bandwidths are read in bytes/s"
        job = self.job
        if job is None or job["disk"] != disk:
            return {}
        return {"type": job["type"], "bandwidth": job["bandwidth"], "cur": job["cur"], "end": job["end"]}

    def blockJobSetSpeed(self, disk, bandwidth, flags):
        self.calls.append(("blockJobSetSpeed", disk, bandwidth, flags))
        self.job["bandwidth"] = bandwidth
        return 0

    def blockJobAbort(self, disk, flags):
        self.calls.append(("blockJobAbort", disk, flags))
        job = self.job
        if job is None:
            raise FakeError(f"Requested operation is not valid: No active block job '{disk}'")
        self.job = None
        if flags & libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT:
            self._apply(job)
            self._emit(job, libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED)
        else:
            self._emit(job, libvirt.VIR_DOMAIN_BLOCK_JOB_CANCELED)
        return 0

    # --- size, limits, thresholds ---
    def blockInfo(self, disk, _flags):
        return [self.capacity[disk], GiB // 4, GiB // 2]

    def blockResize(self, disk, size, flags):
        self.calls.append(("blockResize", disk, size, flags))
        self.capacity[disk] = size
        return 0

    def blockIoTune(self, _disk, flags):
        if flags & libvirt.VIR_DOMAIN_AFFECT_LIVE and not self.active:
            raise FakeError("Requested operation is not valid: domain is not running")
        return dict(self.iotune[flags])

    def setBlockIoTune(self, disk, params, flags):
        self.calls.append(("setBlockIoTune", disk, dict(params), flags))
        self.iotune[flags].update(params)
        return 0

    def blkioParameters(self, flags):
        return dict(self.blkio[flags])

    def setBlkioParameters(self, params, flags):
        self.calls.append(("setBlkioParameters", dict(params), flags))
        self.blkio[flags].update(params)
        return 0

    def blockPeek(self, _disk, offset, size, _flags):
        return bytes((offset + number) % 256 for number in range(size))

    def blockStats(self, _disk):
        return (1, 512, 2, 1024, -1)

    def setBlockThreshold(self, disk, threshold, _flags):
        self.calls.append(("setBlockThreshold", disk, threshold))
        self.connection.thresholds[disk] = threshold
        return 0


def fake_block_domain(**options):
    """The real Domain around a FakeBlockVirDomain: (Domain, FakeBlockVirDomain)."""
    connection = FakeBlockConnection()
    virdomain = FakeBlockVirDomain(connection, **options)
    connection.virdomain = virdomain
    return Domain(connection, virdomain), virdomain
