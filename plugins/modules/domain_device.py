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
  - A live detach asks the guest to release the device (PCI hot-unplug needs the guest's cooperation) and waits up to
    O(timeout) seconds for libvirt's device-removed event; only then is the device removed from the persistent
    definition. A guest that refuses or ignores the request is an error naming the device, and the persistent
    definition is left as it was.
  - Everything is read and decided before the first change, so a refused task (a target used by another disk, an
    interface that gives neither MAC nor alias, O(live=true) on a shut-off domain) changes nothing, and check mode
    reports exactly the actions a real run takes.
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

from ansible_collections.virtops.libvirt.plugins.module_utils._device import DeviceOptions, DeviceRunner
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
