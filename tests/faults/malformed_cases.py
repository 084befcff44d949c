"""The bad values of tests/faults/test_malformed_input.py, one table per module.

A case is (id, module arguments, what the failure message must name). In the arguments, GUEST stands
for the shared guest's name (shut off, or RUNNING for cases whose option needs a running domain);
NOSUCH is a domain name that exists nowhere. The named thing is matched case-insensitively.
"""

from dataclasses import dataclass

GUEST = "@guest"
NOSUCH = "virtops-h3-no-such-domain"
HUGE = "x" * (5 * 1024 * 1024)  # 5 MiB: past any sane option value, the XML bound (4 MiB) and libvirt RPC strings

# Internal entity expansion ("billion laughs"): ten levels of ten, 10**9 copies when expanded.
BILLION_LAUGHS = ("<?xml version='1.0'?>\n<!DOCTYPE lolz [\n<!ENTITY lol0 'lol'>\n"
                  + "".join(f"<!ENTITY lol{i} '{('&lol' + str(i - 1) + ';') * 10}'>\n" for i in range(1, 10))
                  + "]>\n")
# An external entity: the parser must neither expand it nor read the file.
SHADOW_ENTITY = "<?xml version='1.0'?>\n<!DOCTYPE x [<!ENTITY shadow SYSTEM 'file:///etc/shadow'>]>\n"


def laughs(element: str) -> str:
    """ELEMENT ('<tag>{}</tag>') holding the expansion of the ninth entity."""
    return BILLION_LAUGHS + element.format("&lol9;")


def shadow(element: str) -> str:
    return SHADOW_ENTITY + element.format("&shadow;")


DOMAIN = "<domain type='qemu'><name>" + GUEST + "</name><memory>{}</memory></domain>"
DISK = "<disk type='file' device='disk'><source file='/tmp/{}'/><target dev='vdc'/></disk>"
DEST_DISK = "<disk type='file'><source file='/tmp/{}'/></disk>"
ELEMENT = "<value>{}</value>"


@dataclass
class Case:
    id: str
    args: dict
    names: str  # what msg must mention (the option, or the offending name)
    running: bool = False  # needs the running guest (the option is checked against a live domain)


def entity_cases(option_args, element: str, names: str, running: bool = False) -> list:
    """The three XML attacks on one XML option: not well-formed, billion laughs, external entity."""
    return [
        Case("xml-malformed", option_args("<domain><name>x</name"), names, running),
        Case("xml-billion-laughs", option_args(laughs(element)), names, running),
        Case("xml-external-entity", option_args(shadow(element)), names, running),
    ]


def _state_xml(xml):
    return {"name": GUEST, "xml": xml}


DOMAIN_STATE = [
    Case("name-dict", {"name": {"not": "a name"}, "state": "running"}, "name"),
    Case("unknown-domain", {"name": NOSUCH, "state": "running"}, NOSUCH),
    Case("state-unknown", {"name": GUEST, "state": "exploded"}, "state"),
    Case("shutdown-timeout-text", {"name": GUEST, "state": "shutdown", "shutdown_timeout": "soon"}, "shutdown_timeout"),
    Case("timeout-negative", {"name": GUEST, "state": "running", "timeout": -5}, "timeout"),
    Case("parallel-negative", {"name": [GUEST], "state": "running", "parallel": -1}, "parallel"),
    Case("remove-unknown", {"name": GUEST, "state": "absent", "remove": ["everything"]}, "remove"),
    Case("title-newline", {"name": GUEST, "title": "two\nlines"}, "title"),
    Case("title-huge", {"name": GUEST, "title": HUGE}, "title"),
    Case("description-huge", {"name": GUEST, "description": HUGE}, "description"),
    Case("xml-huge", _state_xml("<domain>" + HUGE + "</domain>"), "xml"),
    Case("xml-other-name", _state_xml("<domain type='qemu'><name>virtops-h3-other</name>"
                                      "<memory>65536</memory></domain>"), "name"),
    *entity_cases(_state_xml, DOMAIN, "xml"),
]

DOMAIN_INFO = [
    Case("name-dict", {"name": {"not": "a name"}}, "name"),
    Case("uuid-malformed", {"uuid": "not-a-uuid"}, "uuid"),
    Case("gather-unknown", {"name": GUEST, "gather": ["everything"]}, "gather"),
    Case("stats-unknown", {"name": GUEST, "stats": ["everything"]}, "stats"),
    Case("states-unknown", {"name": GUEST, "states": ["exploded"]}, "states"),
    Case("agent-timeout-text", {"name": GUEST, "agent_timeout": "soon"}, "agent_timeout"),
    Case("agent-timeout-negative", {"name": GUEST, "agent_timeout": -1}, "agent_timeout"),
    Case("parallel-zero", {"name": [GUEST], "parallel": 0}, "parallel"),
    Case("name-huge", {"name": HUGE}, "name"),
]


def _snapshot_disk(**disk):
    return {"name": GUEST, "snapshot": "h3-new", "disks": [{"target": "vda", **disk}]}


DOMAIN_SNAPSHOT = [
    Case("unknown-domain", {"name": NOSUCH, "snapshot": "h3-new"}, NOSUCH),
    Case("revert-unknown-snapshot", {"name": GUEST, "snapshot": "h3-no-such-snapshot", "state": "reverted"},
         "h3-no-such-snapshot"),
    Case("state-unknown", {"name": GUEST, "snapshot": "h3-new", "state": "exploded"}, "state"),
    Case("retain-negative", {"name": GUEST, "retain": -1, "prefix": "h3-"}, "retain"),
    Case("retain-text", {"name": GUEST, "retain": "some", "prefix": "h3-"}, "retain"),
    Case("disk-unknown-target", {"name": GUEST, "snapshot": "h3-new", "disks": [{"target": "vdz"}]}, "vdz"),
    Case("disk-kind-unknown", _snapshot_disk(snapshot="sideways"), "snapshot"),
    # libvirt refuses these (before anything changes) naming the path: "disk snapshot image path '...' must be absolute"
    Case("disk-file-relative", _snapshot_disk(snapshot="external", file="overlay.qcow2"), "'overlay.qcow2'"),
    Case("disk-file-dotdot", _snapshot_disk(snapshot="external", file="../../overlay.qcow2"), "'../../overlay.qcow2'"),
    Case("memory-file-relative", {"name": GUEST, "snapshot": "h3-new", "memory_file": "../mem.img"}, "memory_file"),
    Case("snapshot-name-slash", {"name": GUEST, "snapshot": "../../h3-evil"}, "snapshot"),
    Case("snapshot-name-huge", {"name": GUEST, "snapshot": HUGE}, "snapshot"),
    Case("description-huge", {"name": GUEST, "snapshot": "h3-new", "description": HUGE}, "description"),
    Case("disks-item-not-a-dict", {"name": GUEST, "snapshot": "h3-new", "disks": [["vda"]]}, "disks"),
]


def _backup(**backup):
    return {"name": GUEST, "backup": {"target_dir": "/var/lib/libvirt/images/virtops/h3-backup", **backup}}


def _pull(**backup):
    return {"name": GUEST, "backup": {"mode": "pull", "host": "127.0.0.1",
                                      "scratch_dir": "/var/lib/libvirt/images/virtops", **backup}}


DOMAIN_BACKUP = [
    Case("unknown-domain", {"name": NOSUCH, "checkpoint": "h3-cp"}, NOSUCH),
    Case("state-unknown", {"name": GUEST, "checkpoint": "h3-cp", "state": "exploded"}, "state"),
    Case("retain-negative", {"name": GUEST, "retain": -1, "prefix": "h3-"}, "retain"),
    Case("checkpoint-disk-unknown", {"name": GUEST, "checkpoint": "h3-cp", "disks": ["vdz"]}, "vdz"),
    Case("checkpoint-name-slash", {"name": GUEST, "checkpoint": "../../h3-evil"}, "checkpoint"),
    Case("checkpoint-name-huge", {"name": GUEST, "checkpoint": HUGE}, "checkpoint"),
    Case("description-huge", {"name": GUEST, "checkpoint": "h3-cp", "description": HUGE}, "description"),
    Case("port-text", {"name": GUEST, "backup": {"port": "http"}}, "port"),
    Case("target-dir-relative", _backup(target_dir="backups"), "target_dir", running=True),
    Case("target-dir-dotdot", _backup(target_dir="../../backups"), "target_dir", running=True),
    Case("mode-unknown", _backup(mode="sideways"), "mode", running=True),
    Case("port-negative", _pull(port=-1), "port", running=True),
    Case("port-too-big", _pull(port=70000), "port", running=True),
    Case("timeout-negative", _backup(timeout=-1), "timeout", running=True),
    Case("backup-disk-unknown", _backup(disks=["vdz"]), "vdz", running=True),
    Case("incremental-unknown-checkpoint", _backup(incremental="h3-no-such-checkpoint"),
         "h3-no-such-checkpoint", running=True),
]


def _migrate(**args):
    return {"name": GUEST, "dest_uri": "qemu+unix:///system?socket=/run/virtops-rig/hostb/libvirt-sock",
            "migrate_uri": "tcp://127.0.0.1:49250", **args}


DOMAIN_MIGRATE = [
    Case("unknown-domain", _migrate(name=NOSUCH), NOSUCH),
    Case("dest-uri-garbage", _migrate(dest_uri="::not a uri::"), "destination ::not a uri::"),
    Case("mode-unknown", _migrate(mode="teleport"), "mode"),
    Case("bandwidth-negative", _migrate(bandwidth=-1), "bandwidth", running=True),
    Case("max-downtime-negative", _migrate(max_downtime=-5), "max_downtime", running=True),
    Case("timeout-negative", _migrate(timeout=-1), "timeout", running=True),
    Case("parallel-zero", _migrate(name=[GUEST], parallel=0), "parallel"),
    Case("compression-unknown", _migrate(compression={"methods": ["gzip9000"]}), "methods"),
    Case("compression-level-negative", _migrate(compression={"methods": ["zlib"], "zlib_level": -3}),
         "zlib_level", running=True),
    Case("migrate-disks-unknown", _migrate(copy_storage="all", migrate_disks=["vdz"]), "vdz", running=True),
    Case("disk-paths-relative", _migrate(copy_storage="all", disk_paths={"vda": "../copy.qcow2"}), "disk_paths",
         running=True),
    Case("dest-xml-huge", _migrate(dest_xml="<domain>" + HUGE + "</domain>"), "dest_xml", running=True),
    *entity_cases(lambda xml: _migrate(dest_xml=xml), DOMAIN, "dest_xml", running=True),
    Case("persist-xml-billion-laughs", _migrate(persist_xml=laughs(DOMAIN)), "persist_xml", running=True),
    Case("persist-xml-external-entity", _migrate(persist_xml=shadow(DOMAIN)), "persist_xml", running=True),
]


def _block(**args):
    return {"name": GUEST, "disk": "vda", **args}


DOMAIN_BLOCK = [
    Case("unknown-domain", _block(name=NOSUCH, size="+1M"), NOSUCH),
    Case("disk-unknown", _block(disk="vdz", size="+1M"), "vdz"),
    Case("job-unknown", _block(job="teleport"), "job"),
    Case("size-negative", _block(size="-1G"), "size"),
    Case("size-garbage", _block(size="lots"), "size"),
    Case("size-huge", _block(size=HUGE), "size"),
    Case("bandwidth-negative", _block(job="copy", destination="/var/lib/libvirt/images/virtops/h3-copy.qcow2",
                                      bandwidth="-5M"), "bandwidth", running=True),
    Case("destination-relative", _block(job="copy", destination="h3-copy.qcow2"), "destination", running=True),
    Case("destination-dotdot", _block(job="copy", destination="../../h3-copy.qcow2"), "destination",
         running=True),
    *entity_cases(lambda xml: _block(job="copy", destination_xml=xml), DEST_DISK, "destination_xml",
                  running=True),
    Case("iotune-unknown-key", _block(iotune={"warp_speed": 1}), "warp_speed"),
    Case("iotune-negative", _block(iotune={"total_bytes_sec": -1}), "total_bytes_sec"),
    Case("blkio-negative", _block(blkio={"weight": -1}), "weight"),
    Case("threshold-negative", _block(threshold="-1M"), "threshold", running=True),
    Case("timeout-text", _block(size="+1M", timeout="soon"), "timeout"),
]


def _device(**args):
    return {"name": GUEST, "config": True, **args}


DOMAIN_DEVICE = [
    Case("unknown-domain", _device(name=NOSUCH, disk={"target": "vdc", "source": "/tmp/h3.img"}), NOSUCH),
    Case("no-device", _device(), "xml"),
    Case("disk-source-relative", _device(disk={"target": "vdc", "source": "h3.img"}), "source"),
    Case("disk-source-dotdot", _device(disk={"target": "vdc", "source": "../../h3.img"}), "source"),
    Case("disk-unknown-option", _device(disk={"target": "vdc", "source": "/tmp/h3.img", "warp": 1}), "warp"),
    Case("disk-bus-unknown", _device(disk={"target": "vdc", "source": "/tmp/h3.img", "bus": "warp"}), "bus"),
    Case("disk-boot-order-text", _device(disk={"target": "vdc", "source": "/tmp/h3.img", "boot_order": "first"}),
         "boot_order"),
    Case("interface-mac-garbage", _device(interface={"mac": "zz:zz:zz"}), "mac"),
    Case("timeout-negative", _device(timeout=-1, disk={"target": "vdc", "source": "/tmp/h3.img"}), "timeout"),
    Case("xml-huge", _device(xml="<disk>" + HUGE + "</disk>"), "xml"),
    *entity_cases(lambda xml: _device(xml=xml), DISK, "xml"),
]


def _tune(**args):
    return {"name": GUEST, "config": True, **args}


def _element_xml(xml):
    return _tune(metadata={"elements": [{"namespace": "https://h3.example.org/ns", "prefix": "h3", "xml": xml}]})


DOMAIN_TUNE = [
    Case("unknown-domain", _tune(name=NOSUCH, memory={"current": "128M"}), NOSUCH),
    Case("memory-negative", _tune(memory={"current": "-128M"}), "current"),
    Case("memory-garbage", _tune(memory={"current": "lots"}), "current"),
    Case("memory-huge", _tune(memory={"maximum": HUGE}), "maximum"),
    Case("vcpus-negative", _tune(vcpus={"count": -1}), "count"),
    Case("vcpus-text", _tune(vcpus={"count": "many"}), "count"),
    Case("scheduler-text", _tune(scheduler={"cpu_shares": "lots"}), "cpu_shares"),
    Case("numatune-nodeset-garbage", _tune(numatune={"nodeset": "zz"}), "nodeset"),
    Case("emulatorpin-garbage", _tune(cputune={"emulatorpin": "zz"}), "emulatorpin"),
    Case("iothreads-negative", _tune(iothreads={"ids": [-1]}), "ids"),
    Case("interface-unknown", _tune(interface_bandwidth=[{"interface": "h3-no-such-nic",
                                                          "inbound": {"average": 100}}]), "h3-no-such-nic"),
    Case("rename-slash", _tune(rename="../../h3-evil"), "rename"),
    Case("rename-huge", _tune(rename=HUGE), "rename"),
    Case("title-huge", _tune(metadata={"title": HUGE}), "title"),
    Case("metadata-xml-huge", _element_xml("<value>" + HUGE + "</value>"), "xml"),
    *entity_cases(_element_xml, ELEMENT, "xml"),
]


def _guest(**args):
    return {"name": GUEST, "agent_timeout": 3, **args}


DOMAIN_GUEST = [
    Case("unknown-domain", _guest(name=NOSUCH, gather=["os"]), NOSUCH),
    Case("agent-timeout-negative", _guest(agent_timeout=-1, gather=["os"]), "agent_timeout"),
    Case("gather-unknown", _guest(gather=["everything"]), "gather"),
    Case("time-garbage", _guest(time="teatime"), "time"),
    Case("vcpus-online-garbage", _guest(vcpus_online="zz"), "vcpus_online"),
    Case("fstrim-negative", _guest(fstrim={"minimum": -1}), "minimum"),
    Case("screenshot-relative", _guest(screenshot={"path": "../shot.png"}), "path"),
    Case("core-dump-relative", _guest(core_dump={"path": "../core"}), "path"),
    Case("exec-empty-argv", _guest(exec={"argv": []}), "argv"),
    Case("exec-output-limit-negative", _guest(exec={"argv": ["/bin/true"], "output_limit": -1}), "output_limit"),
    Case("exec-timeout-negative", _guest(exec={"argv": ["/bin/true"], "timeout": -1}), "timeout"),
    Case("signal-unknown", _guest(signal={"pid": 1, "signal": "SIGWARP"}), "signal"),
    Case("send-keys-unknown", _guest(send_keys={"keys": ["KEY_WARP"]}), "KEY_WARP"),
    Case("users-unknown-user", _guest(users=[{"name": "h3-no-such-user", "ssh_keys": []}]), "h3-no-such-user",
         running=True),
    Case("users-name-huge", _guest(users=[{"name": HUGE, "password": "h3-secret"}]), "name", running=True),
]

TABLES = {
    "domain_state": DOMAIN_STATE,
    "domain_info": DOMAIN_INFO,
    "domain_snapshot": DOMAIN_SNAPSHOT,
    "domain_backup": DOMAIN_BACKUP,
    "domain_migrate": DOMAIN_MIGRATE,
    "domain_block": DOMAIN_BLOCK,
    "domain_device": DOMAIN_DEVICE,
    "domain_tune": DOMAIN_TUNE,
    "domain_guest": DOMAIN_GUEST,
}
