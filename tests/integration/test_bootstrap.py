"""tests/lib/bootstrap.sh (use_project_venv) on this machine as a new user meets it.

A fresh Debian 12 has only the system directories on PATH and Debian's own /usr/bin/python3,
which refuses `pip install` (PEP 668). ./demo.sh and tests/run-all.sh must set up everything
themselves from there: these tests run the bootstrap under `env -i` with such a PATH into a venv
of their own, then check what the venv holds, that a second call is quick and installs nothing,
and that a changed requirement file makes it current again. The bootstrap reads a copy of the
repository's scripts and requirement files (so a test can change one): requirements.txt and
tests/requirements/base.txt only, to keep the test command short (the docs and lint tools of the
other files add minutes of installs here and are installed by the project venv at the start of
tests/run-all.sh anyway); that every tests/requirements/*.txt is read is checked with a new one.

apt-get is a stub first on PATH: with every Debian package installed it must never run; other
tests give a stub dpkg-query that reports a package missing.
No rig needed. pip's cache of the calling user is shared (a fresh machine fills it in the same
run, when tests/run-all.sh makes the project venv), so the cold call costs installs, not builds.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
DEBIAN_PYTHON = "/usr/bin/python3"


def _pip_cache_dir() -> str:
    return os.environ.get("PIP_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "pip")


def _copy_bootstrap_tree(dest: Path) -> Path:
    """The files the bootstrap reads: its scripts, requirements.txt and tests/requirements/base.txt."""
    (dest / "tests" / "lib").mkdir(parents=True)
    (dest / "tests" / "requirements").mkdir()
    for name in ("tests/lib/common.sh", "tests/lib/bootstrap.sh", "requirements.txt", "tests/requirements/base.txt"):
        shutil.copy2(REPO / name, dest / name)
    return dest


def _stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


class Bootstrap:
    """Runs `use_project_venv` of a tree copy under env -i with only the system directories on PATH."""

    def __init__(self, base: Path):
        self.tree = _copy_bootstrap_tree(base / "repo")
        self.venv = base / "venv"
        self.home = base / "home"
        self.home.mkdir()
        self.stubs = base / "stubs"
        self.stubs.mkdir()
        self.apt_calls = base / "apt-calls"
        for apt in ("apt-get", "apt"):
            _stub(self.stubs, apt, f'echo "$0 $*" >>"{self.apt_calls}"; exit 100\n')

    def run(self, script: str = "", extra_env: dict | None = None) -> subprocess.CompletedProcess:
        env = {"PATH": f"{self.stubs}:{SYSTEM_PATH}", "HOME": str(self.home), "VIRTOPS_VENV": str(self.venv),
               "PIP_CACHE_DIR": _pip_cache_dir(), **(extra_env or {})}
        command = (f'set -euo pipefail; . "{self.tree}/tests/lib/bootstrap.sh"; use_project_venv; '
                   'command -v python3 ansible-playbook ansible-test; echo "VIRTUAL_ENV=$VIRTUAL_ENV"; ' + script)
        return subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in env.items()), "/bin/bash", "-c", command],
                              capture_output=True, text=True, timeout=1200, check=False)

    def timed_run(self) -> tuple[float, subprocess.CompletedProcess]:
        started = time.monotonic()
        result = self.run()
        return time.monotonic() - started, result


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory):
    """One venv made cold by the bootstrap; the tests below look at it and call it again."""
    made = Bootstrap(tmp_path_factory.mktemp("bootstrap"))
    seconds, first = made.timed_run()
    made.first, made.first_seconds = first, seconds
    print(f"cold bootstrap: {seconds:.1f}s")
    return made


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def test_the_bootstrap_makes_the_venv_from_debians_python_with_only_system_directories_on_path(bootstrap):
    out = _ok(bootstrap.first)
    venv_bin = bootstrap.venv / "bin"
    assert out.splitlines()[:4] == [str(venv_bin / "python3"), str(venv_bin / "ansible-playbook"),
                                    str(venv_bin / "ansible-test"), f"VIRTUAL_ENV={bootstrap.venv}"]
    # Made from Debian's externally managed interpreter: the one a stock Debian 12 has.
    assert Path(DEBIAN_PYTHON).resolve().parent.samefile(
        _pyvenv_cfg(bootstrap.venv)["home"]), _pyvenv_cfg(bootstrap.venv)
    assert "making the project venv" in bootstrap.first.stderr
    # Every Debian package it needs is installed here: apt must not have been run at all.
    assert not bootstrap.apt_calls.exists(), bootstrap.apt_calls.read_text()


def _pyvenv_cfg(venv: Path) -> dict:
    pairs = (line.split("=", 1) for line in (venv / "pyvenv.cfg").read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def test_the_venv_holds_ansible_core_2_19_ansible_test_and_the_collections_python_packages(bootstrap):
    _ok(bootstrap.first)
    venv_bin = bootstrap.venv / "bin"
    playbook = _ok(subprocess.run([venv_bin / "ansible-playbook", "--version"], capture_output=True, text=True,
                                  check=False))
    assert "[core 2.19." in playbook.splitlines()[0], playbook
    assert str(venv_bin / "python") in playbook  # the playbook runs on the venv's interpreter
    assert _ok(subprocess.run([venv_bin / "ansible-test", "--version"], capture_output=True, text=True,
                              check=False)).startswith("ansible-test version 2.19.")
    imports = subprocess.run([venv_bin / "python", "-c", "import libvirt, lxml, pytest, antsibull_changelog; "
                              "print(libvirt.getVersion() > 0)"], capture_output=True, text=True, check=False)
    assert _ok(imports).strip() == "True"


def test_a_second_call_is_quick_and_installs_nothing(bootstrap):
    _ok(bootstrap.first)
    stamp = (bootstrap.venv / ".virtops-stamp").read_text()
    pip_log = bootstrap.venv / "bootstrap-pip.log"
    pip_log_mtime = pip_log.stat().st_mtime_ns
    seconds, second = bootstrap.timed_run()
    _ok(second)
    assert seconds < 2, f"a call on a current venv took {seconds:.1f}s"
    assert second.stderr == "", second.stderr  # no "making", no "installing": nothing was done
    assert pip_log.stat().st_mtime_ns == pip_log_mtime
    assert (bootstrap.venv / ".virtops-stamp").read_text() == stamp
    assert not bootstrap.apt_calls.exists()


def test_a_new_requirement_file_makes_the_venv_current_again(bootstrap):
    _ok(bootstrap.first)
    stamp = (bootstrap.venv / ".virtops-stamp").read_text()
    # Every tests/requirements/*.txt belongs in the venv, a new one too (here a package it lacks).
    (bootstrap.tree / "tests" / "requirements" / "zz-test-bootstrap.txt").write_text("iniconfig\ntomli-w\n")
    try:
        again = bootstrap.run(script='python3 -c "import tomli_w"')
        _ok(again)
        assert "installing into" in again.stderr and "zz-test-bootstrap.txt" in again.stderr, again.stderr
        assert (bootstrap.venv / ".virtops-stamp").read_text() != stamp
        seconds, after = bootstrap.timed_run()
        _ok(after)
        assert seconds < 2 and after.stderr == "", (seconds, after.stderr)
    finally:
        (bootstrap.tree / "tests" / "requirements" / "zz-test-bootstrap.txt").unlink()


# ------------------------------------------------------------------ Debian packages (stubbed dpkg/apt)
SYSTEM_PACKAGES = ["python3-venv", "python3-dev", "libvirt-dev", "pkg-config", "gcc", "shellcheck", "openjdk-17-jre-headless"]


def _system_packages_run(tmp_path: Path, apt_exit: int) -> tuple[subprocess.CompletedProcess, Path]:
    """Runs only the Debian-package step with shellcheck reported missing until apt-get installs it."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    calls, installed = tmp_path / "apt-calls", tmp_path / "installed"
    _stub(stubs, "dpkg-query", "for p in " + " ".join(SYSTEM_PACKAGES) + "; do\n"
          f'  if [ "$p" != shellcheck ] || [ -e "{installed}" ]; then echo "$p ii "; fi\ndone\n')
    _stub(stubs, "apt-get", f'echo "$*" >>"{calls}"\n'
          f'case "$*" in *install*) [ {apt_exit} -eq 0 ] && touch "{installed}";; esac\nexit {apt_exit}\n')
    env = {"PATH": f"{stubs}:{SYSTEM_PATH}", "HOME": str(tmp_path)}
    command = f'set -euo pipefail; . "{REPO}/tests/lib/bootstrap.sh"; _bootstrap_system_packages; echo done'
    result = subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in env.items()), "/bin/bash", "-c", command],
                            capture_output=True, text=True, timeout=60, check=False)
    return result, calls


def test_a_missing_debian_package_is_installed_with_apt_get(tmp_path):
    result, calls = _system_packages_run(tmp_path, apt_exit=0)
    assert result.returncode == 0 and result.stdout == "done\n", result
    lines = calls.read_text().splitlines()
    assert lines[0] == "update -qq"
    assert lines[1].startswith("install -y") and lines[1].split()[-1] == "shellcheck", lines
    assert "python3-dev" not in lines[1]  # only what is missing


def test_a_debian_package_apt_get_cannot_install_stops_with_a_message_naming_it(tmp_path):
    result, _calls = _system_packages_run(tmp_path, apt_exit=100)
    assert result.returncode == 1
    assert "ERROR: apt-get could not install: shellcheck" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
