# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The connection options every module takes; mirrors module_utils/_module.py.
    DOCUMENTATION = r"""
options:
  uri:
    description:
      - The libvirt connection URI, for example V(qemu:///system), V(qemu+ssh://root@kvm01/system)
        or V(qemu+tls://kvm01.example.com/system).
      - When not set, the E(LIBVIRT_DEFAULT_URI) environment variable of the managed node is used,
        then V(qemu:///system), as libvirt itself does.
    type: str
  auth_username:
    description:
      - User name for SASL or other credential-based authentication (libvirt C(openAuth)).
      - Only needed when the URI's transport asks for credentials.
    type: str
  auth_password:
    description:
      - Password for O(auth_username). It never appears in results, diffs or logs.
    type: str
requirements:
  - libvirt-python >= 9.0.0
  - lxml >= 4.9
notes:
  - The connection is opened once per task and always closed, also when the task fails.
  - Reads that meet a transient libvirt error such as C(cannot acquire state change lock) are
    retried a few times with a growing delay (a few seconds in all) before the task fails.
    Changes (start, migration, backup, snapshot creation...) are never repeated automatically,
    since a timed-out request may still have been carried out.
  - A libvirt daemon that does not answer cannot hang the task. Opening the connection gives up
    after 30 seconds, and libvirt keepalive messages (every 5 seconds of silence, 3 unanswered
    ones) fail the pending call when the daemon stops answering later.
"""
