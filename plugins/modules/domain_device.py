#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: domain_device
short_description: Hot-plug, unplug and update one device of a libvirt domain, live and in its persistent definition
version_added: 0.1.0
description:
  - Attaches one device (a disk, a CD-ROM medium, a NIC, a host device, a shared directory, an RNG, a watchdog,
    a controller, a channel, or any device element given as O(xml)) to a domain, updates it in place, or detaches it.
  - O(state=present) attaches a device the domain lacks, and updates one it has with other values (libvirt's
    C(virDomainUpdateDeviceFlags)) - a CD-ROM medium inserted, changed or ejected, a NIC's link state or bandwidth,
    a graphics password. O(state=absent) detaches it.
  - "The same device is found again by the collection's identity rules: disks and CD-ROMs by target, interfaces by
    MAC address, then by alias; host devices by source address; filesystems by target directory; channels by target
    name; controllers by type and index; graphics by type; an RNG or a watchdog by alias, else the domain's only one;
    any other device by alias (V(ua-...))."
  - "The comparison is a subset comparison, like M(virtops.libvirt.domain_state)'s: what libvirt adds on its own
    (aliases, PCI addresses, defaults) is no difference. Idempotent: attaching what is attached, detaching what is
    absent, updating to the same values are C(changed=false), in the live and the persistent definition separately
    (a device in the persistent definition but not live is attached live only)."
  - When both definitions need the same attach or update, one call changes both (libvirt applies both or neither).
    A device libvirt cannot update in a persistent definition (a watchdog, an RNG, a controller...) is updated there
    by defining the domain again with the device replaced (validated against libvirt's schema); its live update is
    libvirt's to accept or refuse.
  - A live detach asks the guest to release the device (PCI hot-unplug needs the guest's cooperation) and waits up to
    O(timeout) seconds for libvirt's device-removed event; only then is the device removed from the persistent
    definition. A guest that refuses or ignores the request is an error naming the device, and the persistent
    definition is left as it was.
  - Everything is read and decided before the first change, so a refused task (a target used by another disk, an
    interface that gives neither MAC nor alias, a disk image that does not exist, O(live=true) on a shut-off domain)
    changes nothing, and check mode reports exactly the actions a real run takes. Image paths are checked when the
    libvirt daemon runs on the same machine (a URI without host); a remote daemon checks them itself while the
    domain runs.
  - Definitions are read with their secrets, so a graphics password is compared; passwords never appear in the
    result, the diff or a message.
author:
  - virtops maintainers (@virtops)
extends_documentation_fragment:
  - virtops.libvirt.connection
  - virtops.libvirt.attributes
options:
  name:
    description: The domain's name.
    type: str
    required: true
  state:
    description:
      - V(present) attaches the device or updates it in place; V(absent) detaches it.
    type: str
    default: present
    choices: [present, absent]
  xml:
    description:
      - The device as one libvirt device element (C(<disk>), C(<interface>), C(<graphics>), C(<hostdev>)...), for
        anything the dictionary forms do not cover.
      - Exactly one of O(xml), O(disk), O(cdrom), O(interface), O(hostdev), O(filesystem), O(rng), O(watchdog),
        O(controller) and O(channel) is required.
    type: str
  disk:
    description:
      - A disk (C(<disk device='disk'>)) given as options instead of O(xml).
      - The disk is found by O(disk.target). Its source is one of O(disk.source), O(disk.volume) and
        O(disk.network); a disk to attach needs one of them, a disk to detach only its target.
      - A disk already at O(disk.target) with another source is refused (detach it or choose another target).
      - "The values given (and the defaults below) are compared with the disk libvirt has: a value that
        differs is updated in place where libvirt can (otherwise libvirt's refusal is reported)."
    type: dict
    suboptions:
      source:
        description:
          - The image's absolute path on the libvirt host. A path under C(/dev/) is attached as a block
            device, anything else as a file.
          - Mutually exclusive with O(disk.volume) and O(disk.network).
        type: path
      volume:
        description: A storage volume as the source (C(<disk type='volume'>)).
        type: dict
        suboptions:
          pool:
            description: The storage pool's name.
            type: str
            required: true
          name:
            description: The volume's name in O(disk.volume.pool).
            type: str
            required: true
      network:
        description: A network image as the source (C(<disk type='network'>)); authentication needs O(xml).
        type: dict
        suboptions:
          protocol:
            description: The network protocol.
            type: str
            required: true
            choices: [nbd, rbd, iscsi, gluster, nfs, http, https, ftp, ftps, tftp]
          name:
            description: The image's name for the protocol (V(pool/image) for rbd, V(iqn.../1) for iscsi, the export for nbd).
            type: str
          hosts:
            description: The servers.
            type: list
            elements: dict
            suboptions:
              name:
                description: The server's host name or address.
                type: str
                required: true
              port:
                description: The server's port (default the protocol's).
                type: int
      target:
        description:
          - The device the guest sees (V(vdb), V(sdc)); it identifies the disk.
        type: str
        required: true
      bus:
        description:
          - The bus the disk is on. QEMU hot-plugs V(virtio), V(scsi) and V(usb) disks only; V(sata) and
            V(ide) disks can be added to the persistent definition (O(config)).
          - V(fdc) makes it a floppy drive (C(device='floppy')), persistent definition only.
        type: str
        default: virtio
        choices: [virtio, sata, scsi, ide, usb, fdc]
      format:
        description:
          - The image format (C(<driver type>)), e.g. V(qcow2), V(raw).
          - Default V(qcow2) when the source's path (or volume or image name) ends in C(.qcow2), else V(raw).
        type: str
      cache:
        description: The cache mode (C(<driver cache>)); libvirt's default when not given.
        type: str
        choices: [default, none, writethrough, writeback, directsync, unsafe]
      io:
        description: The I/O mode (C(<driver io>)).
        type: str
        choices: [threads, native, io_uring]
      discard:
        description: Whether discard (trim) requests reach the image (C(<driver discard>)).
        type: str
        choices: [unmap, ignore]
      readonly:
        description: The guest cannot write to the disk.
        type: bool
        default: false
      shareable:
        description: The disk may be attached to several domains at once.
        type: bool
        default: false
      serial:
        description: The serial number the guest sees.
        type: str
      boot_order:
        description: The disk's place in the boot order (1 first).
        type: int
      alias:
        description: A user alias for the device; it must start with V(ua-) (libvirt keeps no other alias).
        type: str
  cdrom:
    description:
      - A CD-ROM drive (C(<disk device='cdrom'>)), found by O(cdrom.target).
      - "Inserting, changing and ejecting the media of a drive that is there is an update in place:
        O(cdrom.source) is the ISO image, and none (omitted or null) is an empty drive (eject)."
      - QEMU neither hot-plugs nor hot-unplugs the drive itself. Adding or removing a drive of a running domain is
        refused before any change; with O(live=false) it changes the persistent definition (the next boot).
    type: dict
    suboptions:
      target:
        description: The drive the guest sees (V(sdb), V(hdc)); it identifies the drive.
        type: str
        required: true
      bus:
        description: The drive's bus. QEMU cannot hot-plug V(sata) and V(ide) drives; their media can be changed live.
        type: str
        default: sata
        choices: [sata, ide, scsi, usb]
      source:
        description:
          - The ISO image's absolute path on the libvirt host (a path under C(/dev/), e.g. C(/dev/sr0), is
            the host's drive). None is an empty drive.
        type: path
      boot_order:
        description: The drive's place in the boot order (1 first).
        type: int
      alias:
        description: A user alias for the device; it must start with V(ua-).
        type: str
  interface:
    description:
      - A network interface, found by O(interface.mac), else by O(interface.alias); one of them is
        required, so that a second run finds the same NIC.
      - Its link state and bandwidth are updated in place on a NIC that is there.
    type: dict
    suboptions:
      type:
        description:
          - V(network) connects to a libvirt network, V(bridge) to a host bridge, V(direct) to a host
            device (macvtap), V(user) to QEMU's own NAT (no source).
        type: str
        default: network
        choices: [network, bridge, direct, user]
      source:
        description:
          - The libvirt network's name, the host bridge's name or the host device's name (for O(interface.type)
            V(network), V(bridge), V(direct)); required to attach one of these.
        type: str
      mode:
        description: For O(interface.type=direct), the macvtap mode (libvirt's default V(vepa)).
        type: str
        choices: [bridge, vepa, private, passthrough]
      model:
        description: The NIC model the guest sees (V(virtio), V(e1000e), V(rtl8139)...).
        type: str
        default: virtio
      mac:
        description: The MAC address (unicast, e.g. V(52:54:00:12:34:56)); it identifies the NIC.
        type: str
      link:
        description: The link state; libvirt's default (up) when not given.
        type: str
        choices: [up, down]
      bandwidth:
        description: Bandwidth limits (C(<bandwidth>)).
        type: dict
        suboptions:
          inbound:
            description: Limits of the traffic to the guest.
            type: dict
            suboptions:
              average:
                description: The average rate in KiB/s.
                type: int
                required: true
              peak:
                description: The peak rate in KiB/s.
                type: int
              burst:
                description: How many KiB may be sent at peak rate.
                type: int
          outbound:
            description: Limits of the traffic from the guest.
            type: dict
            suboptions:
              average:
                description: The average rate in KiB/s.
                type: int
                required: true
              peak:
                description: The peak rate in KiB/s.
                type: int
              burst:
                description: How many KiB may be sent at peak rate.
                type: int
      vlan:
        description: A VLAN tag (0 to 4095), for Open vSwitch bridges and networks that support it.
        type: int
      alias:
        description: A user alias for the device; it must start with V(ua-). Identifies a NIC without O(interface.mac).
        type: str
  hostdev:
    description:
      - A host PCI or USB device passed through to the guest, found by its address on the host.
    type: dict
    suboptions:
      type:
        description: The device's bus. Default V(pci) when O(hostdev.address) is a text, V(usb) when it is a dictionary.
        type: str
        choices: [pci, usb]
      address:
        description:
          - For V(pci), the PCI address as a text, V(0000:03:00.0) (or V(03:00.0) in domain 0, or the node
            device's name V(pci_0000_03_00_0)).
          - For V(usb), a dictionary, either C(vendor) and C(product) (hex ids, V(0x1d6b)) or C(bus) and
            C(device) (numbers, as C(lsusb) shows them).
        type: raw
        required: true
      managed:
        description: libvirt detaches the device from its host driver on attach and gives it back on detach.
        type: bool
        default: true
      alias:
        description: A user alias for the device; it must start with V(ua-).
        type: str
  filesystem:
    description:
      - A host directory shared with the guest, found by O(filesystem.target) (the mount tag).
      - V(virtiofs) needs shared memory in the domain (C(<memoryBacking><access mode='shared'/>)).
    type: dict
    suboptions:
      source:
        description: The host directory (an absolute path); required to attach.
        type: path
      target:
        description: The mount tag the guest mounts (C(mount -t virtiofs TAG /mnt)); it identifies the filesystem.
        type: str
        required: true
      driver:
        description:
          - V(virtiofs), or V(path) / V(handle) for 9p (9p cannot be hot-plugged, only added to the persistent definition).
        type: str
        default: virtiofs
        choices: [virtiofs, path, handle]
      readonly:
        description: The guest cannot write to the share. libvirt 9.0 refuses it for V(virtiofs).
        type: bool
        default: false
      alias:
        description: A user alias for the device; it must start with V(ua-).
        type: str
  rng:
    description:
      - A random number generator for the guest, found by O(rng.alias), else as the domain's only rng of
        its model.
    type: dict
    suboptions:
      model:
        description: The device model.
        type: str
        default: virtio
        choices: [virtio, virtio-transitional, virtio-non-transitional]
      backend:
        description: The host's random source.
        type: path
        default: /dev/urandom
      rate:
        description: A limit of the entropy the guest may read.
        type: dict
        suboptions:
          bytes:
            description: Bytes per period.
            type: int
            required: true
          period:
            description: The period in milliseconds (libvirt's default 1000).
            type: int
      alias:
        description: A user alias for the device; it must start with V(ua-).
        type: str
  watchdog:
    description:
      - A watchdog device, found by O(watchdog.alias), else as the domain's only watchdog.
    type: dict
    suboptions:
      model:
        description: The device model (V(i6300esb) is a PCI device; V(ib700) an ISA one; V(diag288) for s390x).
        type: str
        default: i6300esb
        choices: [i6300esb, ib700, diag288]
      action:
        description: What happens when the watchdog fires; libvirt's default V(reset) when not given.
        type: str
        choices: [reset, shutdown, poweroff, pause, none, dump, inject-nmi]
      alias:
        description: A user alias for the device; it must start with V(ua-).
        type: str
  controller:
    description:
      - A controller, found by its O(controller.type) and O(controller.index).
    type: dict
    suboptions:
      type:
        description: The kind of controller.
        type: str
        required: true
        choices: [scsi, usb, virtio-serial, pci, sata, ide, fdc, ccid, isa, xenbus]
      index:
        description: The controller's index among those of its type (0 first); it identifies the controller.
        type: int
        required: true
      model:
        description: The model, e.g. V(virtio-scsi) (scsi), V(qemu-xhci) (usb), V(pcie-root-port) (pci).
        type: str
      alias:
        description: A user alias for the device; it must start with V(ua-).
        type: str
  channel:
    description:
      - A virtio-serial channel, found by its name O(channel.target).
    type: dict
    suboptions:
      type:
        description: V(unix) is a socket on the host, V(pty) a pseudo terminal, V(spicevmc) SPICE's agent channel.
        type: str
        default: unix
        choices: [unix, pty, spicevmc]
      target:
        description: The channel's name in the guest, e.g. V(org.qemu.guest_agent.0) or V(com.redhat.spice.0).
        type: str
        required: true
      path:
        description: For V(unix), the socket's path on the host; libvirt chooses one when not given.
        type: path
      alias:
        description: A user alias for the device; it must start with V(ua-).
        type: str
  live:
    description:
      - Change the running domain.
      - When neither O(live) nor O(config) is given, both definitions the domain has are changed (the live one when
        it runs, the persistent one when it is persistent). When only one is given, only that one is changed.
      - V(true) on a domain that is not running is refused.
    type: bool
  config:
    description:
      - Change the persistent definition (what the domain has after its next boot).
      - V(true) on a transient domain is refused.
    type: bool
  timeout:
    description: Seconds a live detach waits for the guest to release the device.
    type: float
    default: 30
notes:
  - libvirt's test driver implements no device hot-plug; the module needs a hypervisor driver such as QEMU.
  - Live PCI hot-plug needs a guest that supports it (ACPI hot-plug on C(pc), C(pcie-root-port) controllers with free
    ports on C(q35)).
"""

EXAMPLES = r"""
- name: Hot-plug a data disk into db01, now and after its next boot
  virtops.libvirt.domain_device:
    name: db01
    disk:
      source: /var/lib/libvirt/images/db01-data.qcow2
      target: vdb
      cache: none
      io: native
      serial: db01-data

- name: Insert the installer ISO into web01's CD-ROM drive
  virtops.libvirt.domain_device:
    name: web01
    cdrom:
      target: sdb
      source: /var/lib/libvirt/iso/debian-12.iso

- name: Eject it again (the drive stays)
  virtops.libvirt.domain_device:
    name: web01
    cdrom:
      target: sdb

- name: Add a NIC on the host bridge br0
  virtops.libvirt.domain_device:
    name: web01
    interface:
      type: bridge
      source: br0
      mac: "52:54:00:6a:01:02"

- name: Take that NIC's link down, on the running guest only
  virtops.libvirt.domain_device:
    name: web01
    interface:
      type: bridge
      source: br0
      mac: "52:54:00:6a:01:02"
      link: down
    live: true

- name: Detach the data disk, giving the guest a minute to release it
  virtops.libvirt.domain_device:
    name: db01
    disk:
      target: vdb
    state: absent
    timeout: 60

- name: Set a VNC password (any device as XML)
  virtops.libvirt.domain_device:
    name: web01
    xml: "<graphics type='vnc' autoport='yes' passwd='{{ vnc_password }}'/>"
    config: true
"""

RETURN = r"""
device:
  description:
    - The device as libvirt has it after the task (in check mode, as it is), in the live and in the persistent
      definition, as XML with passwords redacted; null where the definition lacks it (or the domain has no such
      definition).
  returned: success
  type: dict
  contains:
    live: {description: The device in the running domain's definition., type: str}
    config: {description: The device in the persistent definition., type: str}
  sample:
    live: "<disk device=\"disk\" type=\"file\">...<target bus=\"virtio\" dev=\"vdb\"/><alias name=\"virtio-disk1\"/>...</disk>"
    config: "<disk device=\"disk\" type=\"file\">...<target bus=\"virtio\" dev=\"vdb\"/>...</disk>"
actions:
  description: What the task did (in check mode, would do), one entry per libvirt call.
  returned: always
  type: list
  elements: str
  sample: ["attach disk vdb (live and config)", "update interface 52:54:00:6a:01:02 (live): /interface/link: added <link state=\"down\"/>"]
"""

from ansible_collections.virtops.libvirt.plugins.module_utils._device import DeviceRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._device_decide import DeviceOptions
from ansible_collections.virtops.libvirt.plugins.module_utils._device_spec import ARGUMENT_SPECS, DEVICE_KINDS, desired_device
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._module import DomainModule
from ansible_collections.virtops.libvirt.plugins.module_utils._xml import secret_values

DEVICE_OPTIONS = ("xml",) + DEVICE_KINDS
ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    xml=dict(type="str"),
    live=dict(type="bool"),
    config=dict(type="bool"),
    timeout=dict(type="float", default=30),
    **{kind: ARGUMENT_SPECS[kind] for kind in DEVICE_KINDS},
)


def run(module):
    params = module.params
    desired = desired_device(params)
    module.hide(secret_values(desired.element))
    if params["timeout"] < 0:
        raise InvalidArgument(f"timeout must not be negative (got {params['timeout']:g})")
    options = DeviceOptions(params["state"], params["live"], params["config"], params["timeout"])
    with module.connect() as connection:
        domain = Domain.lookup(connection, name=params["name"])
        result = DeviceRunner(domain, desired, options, module.recorder).run()
    module.set_diff(result.pop("diff_before"), result.pop("diff_after"))
    return result


def main():
    DomainModule(ARGUMENT_SPEC, mutually_exclusive=[DEVICE_OPTIONS], required_one_of=[DEVICE_OPTIONS]).run(run)


if __name__ == "__main__":
    main()
