"""pytest: every test imports the collection as ansible_collections.virtops.libvirt, on any
ansible-core the collection supports (tests/unit-matrix.sh)."""

import os
import shutil
import subprocess

import pytest

import ansible_compat
import collection_path

collection_path.make_collection_importable()
ansible_compat.provide_module_testing()


def pytest_configure(config):  # pylint: disable=unused-argument
    """Under tests/unit-matrix.sh, prove the run uses the ansible-core it claims to test: the
    imported one and the ansible-inventory on PATH (the inventory tests start it) alike."""
    expected = os.environ.get("VIRTOPS_EXPECT_ANSIBLE_CORE")
    if not expected:
        return
    import ansible  # pylint: disable=import-outside-toplevel
    if ansible.__version__ != expected:
        raise pytest.UsageError(f"this run imports ansible-core {ansible.__version__} ({ansible.__file__}), not {expected}")
    inventory = shutil.which("ansible-inventory")
    completed = subprocess.run([inventory or "ansible-inventory", "--version"], capture_output=True, text=True,
                               timeout=60, check=False)
    if f"[core {expected}]" not in completed.stdout:
        raise pytest.UsageError(f"ansible-inventory on PATH ({inventory}) is not ansible-core {expected}: {completed.stdout}")
