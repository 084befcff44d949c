"""Amounts of bytes with units (shared by domain_block and domain_tune), and KiB for libvirt's memory sizes."""

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _block_options
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._units import parse_amount, parse_bytes, parse_kib


def test_domain_block_reads_amounts_with_the_shared_parser():
    assert _block_options.parse_amount is parse_amount and _block_options.parse_bytes is parse_bytes


@pytest.mark.parametrize("value, kib", [("2GiB", 2 * 1024 ** 2), ("512M", 512 * 1024), (1024, 1), (None, None)])
def test_memory_sizes_read_as_kib(value, kib):
    assert parse_kib(value, "memory.current") == kib


def test_a_size_that_is_not_whole_kib_is_refused_rather_than_rounded():
    with pytest.raises(InvalidArgument, match=r"^memory.current: 1KB is not a whole number of KiB \(1000 bytes\)$"):
        parse_kib("1KB", "memory.current")


def test_a_negative_or_unknown_unit_is_refused_naming_the_option():
    with pytest.raises(InvalidArgument, match="memtune.hard_limit must not be negative"):
        parse_kib("-1G", "memtune.hard_limit")
    with pytest.raises(InvalidArgument, match="memtune.hard_limit: cannot read '2X'"):
        parse_kib("2X", "memtune.hard_limit")
