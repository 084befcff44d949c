# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_events.py: an ansible-rulebook event source of libvirt domain events.

Connects (read-only) to one or more libvirt URIs and puts one event on the queue for each domain
event libvirt sends: what guests do, as it happens, without polling.

Arguments:
---------
    uris:                 list of URIs (strings) or dicts with uri, name (the event's host; default: the URI),
                          auth_username, auth_password (SASL, as the modules' options).
                          Default: $LIBVIRT_DEFAULT_URI, else qemu:///system.
    domains:              list of domain name patterns (shell style, fnmatch, case-sensitive). Default: all.
    events:               list of event types. Default: all of lifecycle, reboot, watchdog, io_error, graphics,
                          agent_lifecycle, block_job, disk_change, tray_change, pm_wakeup, pm_suspend,
                          pm_suspend_disk, balloon_change, device_added, device_removed, device_removal_failed,
                          job_completed, memory_failure, block_threshold, migration_iteration, metadata_change.
                          An unknown name fails the start, listing the valid ones.
    reconnect_delay:      seconds before the first reconnection attempt after a connection broke (default 1);
                          doubled after each failed attempt ...
    reconnect_max_delay:  ... up to this many seconds (default 30).
    connect_timeout:      seconds one connection attempt may take (default 30).

An unreachable URI at the start fails the source with the URI and libvirt's reason. A connection
that breaks later (the daemon restarts or stops answering keepalives) gives a `connection` event
with state `disconnected`, then reconnection attempts with backoff, then a `connection` event with
state `reconnected`; libvirt keeps no events for absent clients, so those of the gap are lost.

Each event: host, uri, type, domain (name), uuid, details (codes as names: a lifecycle event has
event, detail and state, e.g. stopped / destroyed / shutoff), timestamp (ISO 8601, UTC).

Examples:
--------
    - name: Guests of two hypervisors
      virtops.libvirt.domain_events:
        uris:
          - uri: qemu+ssh://root@kvm01.example.com/system
            name: kvm01
          - qemu+tls://kvm02.example.com/system
        domains: ["web*", "db01"]
        events: [lifecycle, io_error, block_job, device_removed]

Runs from an installed collection (ansible-galaxy collection install): the collection's
module_utils are imported from the directory holding ansible_collections/ that this file lies in.
"""

from __future__ import annotations

import os
import sys
from typing import Any

DOCUMENTATION = r"""
---
short_description: Receive libvirt domain events (lifecycle, I/O errors, block jobs, devices ...) from libvirt hosts.
description:
  - An ansible-rulebook event source plugin that subscribes to domain events of one or more libvirt URIs.
  - Each event has C(host), C(uri), C(type), C(domain), C(uuid), C(details) (libvirt's codes as names) and
    C(timestamp).
  - A broken connection is reported as a C(connection) event (C(disconnected), then C(reconnected)).
options:
  uris:
    description:
      - libvirt URIs, as strings or dicts with C(uri), C(name), C(auth_username) and C(auth_password).
      - Default is E(LIBVIRT_DEFAULT_URI), else V(qemu:///system).
    type: list
    elements: raw
  domains:
    description: Domain name patterns (shell style, case-sensitive); default all domains.
    type: list
    elements: str
  events:
    description: Event types to subscribe to; default all.
    type: list
    elements: str
  reconnect_delay:
    description: Seconds before the first reconnection attempt, doubled after each failed one.
    type: float
    default: 1
  reconnect_max_delay:
    description: The longest wait between reconnection attempts, in seconds.
    type: float
    default: 30
  connect_timeout:
    description: Seconds one connection attempt may take.
    type: float
    default: 30
"""

EXAMPLES = r"""
- virtops.libvirt.domain_events:
    uris:
      - uri: qemu+ssh://root@kvm01.example.com/system
        name: kvm01
    domains: ["web*"]
    events: [lifecycle, io_error]
"""


def _put_collections_root_on_path() -> None:
    """<root>/ansible_collections/virtops/libvirt/extensions/eda/plugins/event_source/this file: <root> goes
    on sys.path, so that this collection's module_utils import as ansible_collections.virtops.libvirt.

    abspath, not realpath: a collection path made of symlinks is where ansible-galaxy found the collection.
    """
    root = os.path.dirname(os.path.abspath(__file__))
    for _level in range(6):
        root = os.path.dirname(root)
    if os.path.basename(root) == "ansible_collections" and os.path.dirname(root) not in sys.path:
        sys.path.insert(0, os.path.dirname(root))


_put_collections_root_on_path()

try:
    from ansible_collections.virtops.libvirt.plugins.module_utils._event_source import run
except ImportError as error:  # not installed as a collection, or libvirt-python missing
    IMPORT_ERROR: str = str(error)
else:
    IMPORT_ERROR = ""


async def main(queue: Any, args: dict[str, Any]) -> None:
    """Put the domain events of `args["uris"]` on `queue` until cancelled."""
    if IMPORT_ERROR:
        raise ImportError(f"virtops.libvirt.domain_events needs the collection installed as "
                          f"ansible_collections/virtops/libvirt and libvirt-python: {IMPORT_ERROR}")
    await run(queue, args)


if __name__ == "__main__":
    import asyncio

    class _PrintQueue:
        """Prints each event instead of queueing it (a quick look: python3 domain_events.py [URI])."""

        async def put(self, event: dict[str, Any]) -> None:
            print(event)  # noqa: T201

    asyncio.run(main(_PrintQueue(), {"uris": sys.argv[1:]}))
