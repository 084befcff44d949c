"""Make the repository importable as ansible_collections.virtops.libvirt (tests, benchmarks).

Integration tests also hand COLLECTION_FARM to the module processes and ansible-playbook /
ansible-inventory runs they start (harness.module_environment).

ansible-test units already arranges that path; a developer's `pytest tests/unit` gets the same
through a symlink farm in the temp dir (the repository itself stays untouched). The farm is per
checkout (its name holds a hash of the repository's path): two checkouts on one machine must
never test each other's code. demo.sh computes the same directory.
"""

import hashlib
import importlib.util
import os
import sys
import tempfile
from typing import Optional

REPOSITORY = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def farm_for(repository: str) -> str:
    """The per-checkout farm: ${TMPDIR}/virtops-collections-<uid>-<12 hex of sha256(path)>."""
    digest = hashlib.sha256(repository.encode()).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), f"virtops-collections-{os.getuid()}-{digest}")


COLLECTION_FARM = farm_for(REPOSITORY)


def _importable_tree() -> Optional[str]:
    """The checkout that `import ansible_collections.virtops.libvirt` would load, if any."""
    try:
        spec = importlib.util.find_spec("ansible_collections.virtops.libvirt")
    except ModuleNotFoundError:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.realpath(list(spec.submodule_search_locations)[0])


def _link_farm(farm: str) -> None:
    namespace = os.path.join(farm, "ansible_collections", "virtops")
    link = os.path.join(namespace, "libvirt")
    os.makedirs(namespace, exist_ok=True)
    if os.path.realpath(link) == REPOSITORY:
        return
    # Replaced atomically: a concurrent run of this checkout never sees the link missing.
    staging = f"{link}.{os.getpid()}"
    os.symlink(REPOSITORY, staging)
    os.replace(staging, link)


def make_collection_importable() -> None:
    # Another checkout's farm on PYTHONPATH (or installed copy) must not win over this checkout.
    if _importable_tree() == REPOSITORY:
        return
    _link_farm(COLLECTION_FARM)
    sys.path.insert(0, COLLECTION_FARM)
    importlib.invalidate_caches()
    found = _importable_tree()
    if found != REPOSITORY:
        raise RuntimeError(f"ansible_collections.virtops.libvirt resolves to {found}, not to this checkout {REPOSITORY}")
