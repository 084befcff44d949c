"""Running modules the way Ansible does, against the real rig (see tests/rig/rig_env.py)."""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

RIG_DIR = Path(__file__).resolve().parents[1] / "rig"
sys.path.insert(0, str(RIG_DIR))

import rig_env  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import


def collections_root() -> str:
    """The directory holding ansible_collections/virtops/libvirt (symlinks kept as they are)."""
    location = importlib.util.find_spec("ansible_collections.virtops.libvirt").submodule_search_locations[0]
    return str(Path(location).parents[2])


def module_environment() -> dict:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [collections_root(), environment.get("PYTHONPATH")]))
    environment["ANSIBLE_COLLECTIONS_PATH"] = collections_root()
    environment.pop("LIBVIRT_DEFAULT_URI", None)
    return environment


class ModuleResult(dict):
    """A module's JSON result, plus how long the process ran."""

    seconds: float = 0.0
    finished_at: float = 0.0


def run_module(module: str, args: dict, check_mode: bool = False, diff: bool = False) -> ModuleResult:
    """Run plugins/modules/<module>.py in its own process, as Ansible does; return its result."""
    payload = {"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check_mode, "_ansible_diff": diff}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(payload, handle)
    started = time.monotonic()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", f"ansible_collections.virtops.libvirt.plugins.modules.{module}", handle.name],
            capture_output=True, text=True, env=module_environment(), timeout=900, check=False,
        )
    finally:
        os.unlink(handle.name)
    finished = time.monotonic()
    assert "Traceback" not in completed.stderr + completed.stdout, completed.stderr + completed.stdout
    try:
        result = ModuleResult(json.loads(completed.stdout))
    except ValueError:
        pytest.fail(f"{module} printed no JSON result:\nstdout: {completed.stdout}\nstderr: {completed.stderr}")
    result.seconds = finished - started
    result.finished_at = finished
    return result
