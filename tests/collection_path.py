"""Make the repository importable as ansible_collections.virtops.libvirt (tests, benchmarks).

Integration tests also hand COLLECTION_FARM to the module processes and ansible-playbook they start.

ansible-test units already arranges that path; a developer's `pytest tests/unit` gets the same
through a symlink farm in the temp dir (the repository itself stays untouched).
"""

import importlib.util
import os
import sys
import tempfile

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _importable() -> bool:
    try:
        return importlib.util.find_spec("ansible_collections.virtops.libvirt") is not None
    except ModuleNotFoundError:
        return False


COLLECTION_FARM = os.path.join(tempfile.gettempdir(), f"virtops-pytest-{os.getuid()}")


def make_collection_importable() -> None:
    if _importable():
        return
    farm = COLLECTION_FARM
    namespace = os.path.join(farm, "ansible_collections", "virtops")
    link = os.path.join(namespace, "libvirt")
    os.makedirs(namespace, exist_ok=True)
    if os.path.realpath(link) != REPOSITORY:
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(REPOSITORY, link)
    sys.path.insert(0, farm)
