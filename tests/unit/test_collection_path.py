"""Two checkouts on one machine each test their own code (tests/collection_path.py, demo.sh).

Every subprocess here gets a private TMPDIR, so these tests never touch the farm that other runs
on this machine use.
"""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
# What a test run of the checkout in cwd hands to the module processes and ansible-inventory /
# ansible-playbook runs it starts (harness.module_environment; no rig needed to import it).
RESOLVE_COLLECTION = (
    "import os, sys\n"
    "sys.path[:0] = [os.path.join(os.getcwd(), 'tests'), os.path.join(os.getcwd(), 'tests', 'integration')]\n"
    "import collection_path\n"
    "collection_path.make_collection_importable()\n"
    "from harness import module_environment\n"
    "environment = module_environment()\n"
    "farm = environment['PYTHONPATH'].split(os.pathsep)[0]\n"
    "assert environment['ANSIBLE_COLLECTIONS_PATH'] == farm, environment['ANSIBLE_COLLECTIONS_PATH']\n"
    "print(farm)\n"
)
IMPORTED_TREE = (
    "import os, ansible_collections.virtops.libvirt.plugins.module_utils._errors as errors\n"
    "print(os.path.realpath(os.path.join(os.path.dirname(errors.__file__), '..', '..')))\n"
)


def copy_checkout(destination: Path) -> Path:
    shutil.copytree(REPOSITORY, destination, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", "output", ".venv*", ".ansible"))
    return destination.resolve()


def clean_environment(tmpdir: Path, **extra: str) -> dict:
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "ANSIBLE_COLLECTIONS_PATH")}
    environment["TMPDIR"] = str(tmpdir)
    environment.update(extra)
    return environment


def python(code: str, cwd: Path, environment: dict) -> str:
    completed = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=environment, capture_output=True,
                               text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


@pytest.fixture
def private_tmpdir(tmp_path):
    path = tmp_path / "tmp"
    path.mkdir()
    return path


def test_each_checkout_hands_its_own_tree_to_the_processes_it_starts(tmp_path, private_tmpdir):
    """The farm a test run hands to module processes (PYTHONPATH, as harness.module_environment
    does) still holds its own checkout after another checkout ran its tests."""
    other = copy_checkout(tmp_path / "other-checkout")
    environment = clean_environment(private_tmpdir)
    other_farm = python(RESOLVE_COLLECTION, other, environment)
    this_farm = python(RESOLVE_COLLECTION, REPOSITORY, environment)
    for farm, tree in ((other_farm, other), (this_farm, REPOSITORY)):
        module_process = clean_environment(private_tmpdir, PYTHONPATH=farm)
        assert python(IMPORTED_TREE, Path("/"), module_process) == str(tree), f"farm {farm} is not {tree}'s"


def test_another_checkouts_farm_on_pythonpath_does_not_win(tmp_path, private_tmpdir):
    """A shell that still has another checkout's farm on PYTHONPATH tests this checkout's code."""
    other = copy_checkout(tmp_path / "other-checkout")
    other_farm = python(RESOLVE_COLLECTION, other, clean_environment(private_tmpdir))
    this_farm = python(RESOLVE_COLLECTION, REPOSITORY, clean_environment(private_tmpdir, PYTHONPATH=other_farm))
    module_process = clean_environment(private_tmpdir, PYTHONPATH=this_farm)
    assert python(IMPORTED_TREE, Path("/"), module_process) == str(REPOSITORY)


def stub_executable(path: Path, script: str) -> None:
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_demo_of_each_checkout_runs_its_own_collection(tmp_path, private_tmpdir):
    """demo.sh (what test_demo_playbook runs) links a collections path per checkout: a demo run
    from another checkout does not redirect it. The rig and ansible-playbook are stubs here."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub_executable(bin_dir / "ansible-playbook",
                    '#!/bin/sh\necho "$ANSIBLE_COLLECTIONS_PATH"\n')
    checkouts = [copy_checkout(tmp_path / name) for name in ("checkout-a", "checkout-b")]
    for checkout in checkouts:
        stub_executable(checkout / "tests" / "rig" / "rig", "#!/bin/sh\nexit 0\n")
        # No project venv either: its bin/ would come first on PATH, before the stub ansible-playbook.
        (checkout / "tests" / "lib" / "bootstrap.sh").write_text("use_project_venv() { :; }\n")
    environment = clean_environment(private_tmpdir, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    collection_paths = []
    for checkout in checkouts:
        completed = subprocess.run([str(checkout / "demo.sh")], env=environment, capture_output=True, text=True,
                                   timeout=60, check=False)
        assert completed.returncode == 0, completed.stderr
        collection_paths.append(completed.stdout.strip())
    for collections, checkout in zip(collection_paths, checkouts):
        linked = Path(collections, "ansible_collections", "virtops", "libvirt").resolve()
        assert linked == checkout, f"{checkout}'s demo runs the collection of {linked}"
        # The same directory the checkout's tests hand to module processes and ansible-inventory.
        assert collections == python(RESOLVE_COLLECTION, checkout, clean_environment(private_tmpdir))
