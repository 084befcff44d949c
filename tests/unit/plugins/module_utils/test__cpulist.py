"""CPU lists in libvirt's syntax: parsed, refused naming the option and the host, formatted, as cpumaps."""

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._cpulist import (
    cpumap_text, format_list, from_cpumap, normalized, parse, to_cpumap)
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument


@pytest.mark.parametrize("text, cpus", [
    ("0-3,^2,8", (0, 1, 3, 8)),
    ("3", (3,)),
    (5, (5,)),
    (" 1 , 0 ", (0, 1)),
    ("0-7,^0-3", (4, 5, 6, 7)),
    ("2,2,1-2", (1, 2)),
])
def test_a_cpu_list_reads_as_sorted_cpu_numbers(text, cpus):
    assert parse(text, "cputune.emulatorpin", host_cpus=9) == cpus


@pytest.mark.parametrize("text, message", [
    ("0-", "cannot read '0-' as a CPU list"),
    ("a", "cannot read 'a' as a CPU list"),
    ("1,,2", "cannot read '1,,2' as a CPU list"),
    ("-1", "cannot read '-1' as a CPU list"),
    ("3-1", "the range 3-1 of '3-1' ends before it starts"),
    ("1,^1", "'1,^1' selects no CPU"),
    (True, "expected a CPU list"),
    (None, "expected a CPU list"),
])
def test_a_malformed_cpu_list_is_refused_naming_the_option(text, message):
    with pytest.raises(InvalidArgument, match="cputune.vcpupin.0: ") as raised:
        parse(text, "cputune.vcpupin.0", host_cpus=8)
    assert message in raised.value.message


def test_a_cpu_the_host_does_not_have_is_refused_with_the_hosts_cpu_count():
    with pytest.raises(InvalidArgument) as raised:
        parse("6-9", "cputune.emulatorpin", host_cpus=8)
    assert raised.value.message == "cputune.emulatorpin: CPU 8-9 is not a CPU of this host (it has 8: 0-7)"


def test_without_a_host_any_cpu_number_is_read():
    assert parse("64", "numatune.nodeset") == (64,)


@pytest.mark.parametrize("cpus, text", [
    ((0, 1, 2, 3), "0-3"), ((0, 1, 3, 8), "0-1,3,8"), ((5,), "5"), ((3, 1, 2), "1-3"), ((), ""), ((0, 2, 4), "0,2,4"),
])
def test_cpu_numbers_format_as_the_shortest_list(cpus, text):
    assert format_list(cpus) == text


def test_a_cpu_list_normalizes_so_it_compares_with_what_libvirt_reports():
    assert normalized("3,0,1,2", "x") == normalized("0-3", "x") == "0-3"


def test_cpumaps_round_trip():
    cpumap = to_cpumap((1, 3), 4)
    assert cpumap == (False, True, False, True)
    assert from_cpumap(cpumap) == (1, 3) and cpumap_text(cpumap) == "1,3"
    assert cpumap_text([True, True, True, False, True]) == "0-2,4"
