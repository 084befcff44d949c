"""Guests that cost almost no CPU, for fault tests that need many domains or no running OS.

A `pc` machine without a kernel: SeaBIOS finds nothing to boot and halts (rebootTimeout -1
stops it from retrying), so QEMU idles even under TCG. A blank qcow2 disk is optional: it is
what an internal snapshot with memory needs, and SeaBIOS skips it as not bootable.
"""

import subprocess

from harness import rig_env


def idle_guest_xml(name: str, *, memory_mib: int = 32, disk: "str | None" = None) -> str:
    disk_xml = ""
    if disk:
        disk_xml = (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                    f"<source file='{disk}'/><target dev='vda' bus='virtio'/></disk>")
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><bios rebootTimeout='-1'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    {disk_xml}
  </devices>
</domain>"""


def make_blank_disk(name: str, size: str = "1M") -> str:
    """An empty qcow2 image at rig_env.data_disk_path(name) (rig_env.remove_data_disk removes it)."""
    path = rig_env.data_disk_path(name)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, size], check=True, timeout=30)
    return path
