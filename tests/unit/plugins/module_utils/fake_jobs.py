"""Fakes for long jobs: a virDomain with one job, and a connection that delivers events from a thread.

The fake virDomain implements the libvirt methods the typed wrappers call (jobStats, abortJob,
backupBegin, ...), so tests wrap it in the real _domain.Domain. The fake connection stores what
register_domain_event is given and calls it from another thread, as libvirt's event loop does.
"""

import itertools
import threading

import libvirt

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import call_libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain

DOMAIN_XML = """<domain type='qemu'><name>vm</name><devices>
<disk type='file' device='disk'><source file='/img/a.qcow2'/><target dev='vda'/></disk>
<disk type='file' device='disk'><source file='/img/b.qcow2'/><target dev='vdb'/></disk>
<disk type='file' device='cdrom'><target dev='sda'/><readonly/></disk>
</devices></domain>"""

RUNNING, COMPLETED, FAILED, CANCELLED = 2, 3, 4, 5


class FakeError(libvirt.libvirtError):
    """A libvirtError with a chosen message (the real one reads libvirt's last error)."""

    def __init__(self, message):
        super().__init__(message)
        self._message = message

    def get_error_code(self):
        return libvirt.VIR_ERR_OPERATION_INVALID

    def get_error_message(self):
        return self._message


class FakeConnection:
    """invoke() through the real error translation; events delivered by a thread."""

    uri = "qemu:///system"

    def __init__(self):
        self.registered = {}
        self._ids = itertools.count(1)
        self.delivered = []

    def invoke(self, operation, func, *args, domain=None, idempotent=False):  # pylint: disable=unused-argument
        return call_libvirt(operation, func, *args, domain=domain, retry=None)

    def register_domain_event(self, virdomain, event_id, callback, domain=None):  # pylint: disable=unused-argument
        callback_id = next(self._ids)
        self.registered[callback_id] = (virdomain, event_id, callback)
        return callback_id

    def deregister_domain_event(self, callback_id, domain=None):  # pylint: disable=unused-argument
        del self.registered[callback_id]

    def emit(self, event_id, *args):
        """Deliver an event as libvirt's event-loop thread does: (conn, dom, *args, opaque)."""
        def deliver():
            for virdomain, wanted, callback in list(self.registered.values()):
                if wanted == event_id:
                    self.delivered.append(event_id)
                    callback(self, virdomain, *args, None)

        thread = threading.Thread(target=deliver, daemon=True)
        thread.start()
        thread.join()


class FakeCheckpoint:
    def __init__(self, virdomain, name):
        self.virdomain, self.name = virdomain, name

    def getName(self):
        return self.name

    def getXMLDesc(self, _flags):
        return f"<domaincheckpoint><name>{self.name}</name><creationTime>1</creationTime></domaincheckpoint>"

    def delete(self, _flags):
        self.virdomain.calls.append("checkpoint.delete")
        if self.virdomain.checkpoint_delete_error:
            raise FakeError(self.virdomain.checkpoint_delete_error)
        self.virdomain.checkpoints.remove(self.name)


class FakeVirDomain:
    """One domain with at most one job.

    The job ends after `polls_until_done` reads of the running job's statistics (then without an
    event: a lost event), or `event_after` seconds after it started (with JOB_COMPLETED), or when
    aborted (with JOB_COMPLETED, cancelled); never by itself when both are None.
    """

    def __init__(self, connection, polls_until_done=None, success=True, event_after=None,
                 errmsg="No space left on device"):
        self.connection = connection
        self.polls_until_done = polls_until_done
        self.success = success
        self.event_after = event_after
        self.errmsg = errmsg
        self.calls = []
        self.job_active = False
        self.completed = None
        self.ended = threading.Event()
        self.checkpoints = []
        self.checkpoint_delete_error = None
        self.backup_xml = None
        self.lock = threading.Lock()

    # --- identity and state ---
    def name(self):
        return "vm"

    def UUIDString(self):
        return "00000000-0000-0000-0000-000000000001"

    def state(self, _flags):
        return (libvirt.VIR_DOMAIN_RUNNING, 1)

    def XMLDesc(self, _flags):
        return DOMAIN_XML

    # --- the job ---
    def start_job(self):
        self.job_active = True
        self.ended.clear()
        if self.event_after is not None:
            threading.Timer(self.event_after, self.finish).start()

    def finish(self, aborted=False, event=True):
        with self.lock:
            if not self.job_active:
                return
            self.job_active = False
            success = self.success and not aborted
            kind = CANCELLED if aborted else (COMPLETED if success else FAILED)
            self.completed = {"type": kind, "success": success, "disk_total": 10,
                              "errmsg": None if success else ("operation aborted" if aborted else self.errmsg)}
            params = {"type": kind, "operation": libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP, "success": success,
                      "disk_total": 10, "disk_processed": 10 if success else 3}
        self.ended.set()
        if event:
            self.connection.emit(libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, params)

    def jobStats(self, flags):
        self.calls.append("jobStats")
        if flags & libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED:
            return dict(self.completed or {"type": 0})
        if self.job_active and self.polls_until_done is not None:
            self.polls_until_done -= 1
            if self.polls_until_done < 0:
                self.finish(event=False)
        if self.job_active:
            return {"type": RUNNING, "operation": libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP,
                    "disk_total": 10, "disk_processed": 3}
        return {"type": 0}

    def abortJob(self):
        self.calls.append("abortJob")
        if not self.job_active:
            raise FakeError("Requested operation is not valid: no job is active on the domain")
        self.finish(aborted=True)
        return 0

    def blocking_job(self, value="done"):
        """What a blocking call (a migration) does: runs the job, returns when it ends."""
        self.calls.append("blocking_job")
        self.start_job()
        self.ended.wait(60)
        if not self.completed["success"]:
            raise FakeError(self.completed["errmsg"])
        return value

    # --- backups and checkpoints ---
    def backupBegin(self, backup_xml, checkpoint_xml, _flags):
        self.calls.append("backupBegin")
        if checkpoint_xml:
            self.checkpoints.append(_xml.element_text(_xml.parse(checkpoint_xml), "name"))
        for target in _xml.parse(backup_xml).iter("target"):
            with open(target.get("file"), "w", encoding="utf-8") as handle:
                handle.write("partial")
        self.backup_xml = backup_xml
        self.start_job()
        return 0

    def backupGetXMLDesc(self, _flags):
        if not self.job_active:
            raise FakeError("Requested operation is not valid: no active backup job")
        return self.backup_xml

    def listAllCheckpoints(self, _flags):
        return [FakeCheckpoint(self, name) for name in self.checkpoints]

    def checkpointLookupByName(self, name, _flags):
        return FakeCheckpoint(self, name)

    def checkpointCreateXML(self, xml, _flags):
        self.calls.append("checkpointCreateXML")
        self.checkpoints.append(_xml.element_text(_xml.parse(xml), "name"))


def fake_domain(**job):
    """The real Domain around a FakeVirDomain on a FakeConnection: (Domain, FakeVirDomain)."""
    connection = FakeConnection()
    virdomain = FakeVirDomain(connection, **job)
    return Domain(connection, virdomain), virdomain
