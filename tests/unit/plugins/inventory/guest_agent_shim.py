"""ansible-inventory with a guest agent that says what a test wants (VIRTOPS_TEST_GUEST_AGENT, JSON).

libvirt's test driver has no guest agent and reports only the state statistics, so
virDomain.guestInfo and interfaceAddresses are replaced, and the bulk statistics get extra keys,
at the libvirt-python level: everything above them (the collection's facts, the plugin,
ansible-core's templating) is the real code. {"guest_info": {"hostname": ...}, "addresses":
{"agent": {"eth0": {"hwaddr": ..., "addrs": [{"type": 0, "addr": ..., "prefix": 24}]}}},
"stats": {"balloon.maximum": 2097152}} (stats added to every domain's record).
"""

import json
import os
import runpy
import sys

import libvirt

ANSWERS = json.loads(os.environ["VIRTOPS_TEST_GUEST_AGENT"])
SOURCES = {libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE: "lease",
           libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT: "agent",
           libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP: "arp"}


def guest_info(_domain, _types=0, _flags=0):
    return dict(ANSWERS.get("guest_info", {}))


def interface_addresses(_domain, source, _flags=0):
    return dict(ANSWERS.get("addresses", {}).get(SOURCES[source], {}))


def with_extra_stats(real):
    def stats(*args, **kwargs):
        return [(domain, {**record, **ANSWERS.get("stats", {})}) for domain, record in real(*args, **kwargs)]
    return stats


libvirt.virConnect.getAllDomainStats = with_extra_stats(libvirt.virConnect.getAllDomainStats)
libvirt.virConnect.domainListGetStats = with_extra_stats(libvirt.virConnect.domainListGetStats)
libvirt.virDomain.guestInfo = guest_info
libvirt.virDomain.interfaceAddresses = interface_addresses
sys.argv = ["ansible-inventory", *sys.argv[1:]]
runpy.run_module("ansible.cli.inventory", run_name="__main__", alter_sys=True)
