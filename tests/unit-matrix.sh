#!/usr/bin/env bash
# The unit tests (tests/unit, the inventory security tests among them) under every ansible-core
# release that meta/runtime.yml claims: one venv per release, made here.
#
#   1. check that the matrix covers the lower bound of requires_ansible in meta/runtime.yml
#   2. per release: a venv of its own with that ansible-core, requirements.txt and pytest installed
#      INTO it (no system site-packages: a stock Debian python3 has none of them, and a venv made
#      from the project venv would not see the project venv's), reused while it still imports all of
#      them from inside itself. pip's cache keeps the libvirt-python wheel built once. 2.16 to 2.19
#      run on the base interpreter of the python3 on PATH (the project venv's base, 3.11); 2.20 and
#      later need Python 3.12 (pyenv's on these machines)
#   3. per release: pytest tests/unit with the venv's bin first on PATH (the inventory tests start
#      ansible-inventory), several releases at once, then each release's pytest summary line (and
#      its whole output if it failed)
#
# Usage: tests/unit-matrix.sh [pytest arguments...]     (works from any cwd)
# Environment:
#   ANSIBLE_CORE_RELEASES  releases to test, default "2.16 2.17 2.18 2.19 2.20 2.21"
#   PYTHON312              the Python 3.12 for 2.20 and later, default python3.12 on PATH or pyenv's
#   VIRTOPS_VENV_DIR       where the venvs live, default /var/tmp/virtops-venvs-<uid> (kept between runs)
#   UNIT_MATRIX_JOBS       pytest runs at once, default the number of cores
# Exit status: 0 only if every release ran tests and all passed. pytest's 5 ("no tests ran") fails.
set -euo pipefail

# shellcheck source=tests/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=tests/lib/bootstrap.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/bootstrap.sh"
use_project_venv   # python3 below (yaml, packaging) is the project venv's

ROOT=$(repo_root)
RELEASES=${ANSIBLE_CORE_RELEASES:-"2.16 2.17 2.18 2.19 2.20 2.21"}
VENV_DIR=${VIRTOPS_VENV_DIR:-"/var/tmp/virtops-venvs-$(id -u)"}
JOBS=${UNIT_MATRIX_JOBS:-$(nproc 2>/dev/null || echo 2)}
LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/virtops-unit-matrix.XXXXXX")
trap 'rm -rf -- "$LOG_DIR"' EXIT

require_cmd python3
python3 -c 'import venv' 2>/dev/null || die "python3 has no venv module (Debian: apt-get install python3-venv)"

# requires_ansible may not claim a release below the oldest one tested here.
check_requires_ansible() {
    # shellcheck disable=SC2086  # one argument per release
    python3 - "$ROOT/meta/runtime.yml" $RELEASES <<'PY'
import sys

import yaml
from packaging.specifiers import SpecifierSet

with open(sys.argv[1], encoding='utf-8') as f:
    claim = SpecifierSet(yaml.safe_load(f)['requires_ansible'])
releases = sorted(sys.argv[2:], key=lambda r: tuple(int(p) for p in r.split('.')))
untested = [r for r in releases if not claim.contains(r + '.0')]
major, minor = (int(p) for p in releases[0].split('.'))
below = '%d.%d.999' % (major, minor - 1)
if untested:
    sys.exit('meta/runtime.yml requires_ansible %s excludes tested release(s) %s' % (claim, ' '.join(untested)))
if claim.contains(below):
    sys.exit('meta/runtime.yml requires_ansible %s claims %s, older than the oldest tested release %s'
             % (claim, below, releases[0]))
print('requires_ansible %s: oldest tested release %s' % (claim, releases[0]))
PY
}

# Prints the venv's ansible-core version if the venv imports release $2 and the other packages
# the tests need from inside itself.
venv_release() {
    local venv=$1 release=$2
    [ -x "$venv/bin/python" ] || return 1
    "$venv/bin/python" - "$venv" "$release" <<'PY' 2>/dev/null
import os
import sys

import ansible
import libvirt
import lxml
import pytest

venv, release = os.path.realpath(sys.argv[1]), sys.argv[2]
outside = [m.__name__ for m in (ansible, libvirt, lxml, pytest)
           if not os.path.realpath(m.__file__).startswith(venv + os.sep)]
if outside or not ansible.__version__.startswith(release + '.'):
    sys.exit(1)
print(ansible.__version__)
PY
}

# python_for RELEASE: the interpreter that runs ansible-core RELEASE (2.20 and later need 3.12).
python_for() {
    local minor=${1#*.} candidate
    if [ "$minor" -lt 20 ]; then
        # The real interpreter, not the project venv's python3 (a venv's venv is made from it anyway,
        # and the venv's name tells the Python it runs on).
        python3 -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))'
        return
    fi
    # A pyenv shim on PATH may exist and still refuse to run: each candidate must really be 3.12.
    for candidate in "${PYTHON312:-}" \
                     "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.12*/bin/python3.12 \
                     "$(command -v python3.12 || true)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] &&
           "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
            printf '%s\n' "$candidate"
            return
        fi
    done
    log "ERROR: ansible-core $1 needs Python 3.12, and none was found (set PYTHON312)"
    return 1
}

# make_venv PYTHON VENV RELEASE: a fresh venv with ansible-core RELEASE, requirements.txt and pytest
# installed into it (pip's wheel cache serves libvirt-python after its first build).
make_venv() {
    local python=$1 venv=$2 release=$3
    "$python" -m venv "$venv" &&
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "ansible-core==$release.*" \
            -r "$ROOT/requirements.txt" pytest
}

# ensure_venv RELEASE: prints the venv's path; makes (or remakes) it unless it is still right.
ensure_venv() {
    local release=$1 venv log python
    python=$(python_for "$release") || return 1
    # "-own": the venvs of this layout hold every package themselves (older ones used the system's).
    venv="$VENV_DIR/py$("$python" -c 'import platform; print(platform.python_version())')-ansible-core-$release-own"
    log="$LOG_DIR/venv-$release.log"
    mkdir -p "$VENV_DIR"
    # Two runs on one machine share the venvs: one makes a venv while the other waits.
    exec 8>"$venv.lock"
    flock 8
    if ! venv_release "$venv" "$release" >/dev/null; then
        log "making $venv"
        rm -rf -- "$venv"
        if ! make_venv "$python" "$venv" "$release" >"$log" 2>&1; then
            cat "$log" >&2
            rm -rf -- "$venv"
            log "ERROR: could not make a venv with ansible-core $release"
            return 1
        fi
        if ! venv_release "$venv" "$release" >/dev/null; then
            log "ERROR: $venv does not import its own ansible-core $release"
            return 1
        fi
    fi
    exec 8>&-
    printf '%s\n' "$venv"
}

# prepare_release RELEASE: prints "VERSION VENV" once the venv is right and ansible-inventory on
# its PATH is the same release. Called in `||` context (no set -e): each step checks its status.
prepare_release() {
    local release=$1 venv version inventory_version
    venv=$(ensure_venv "$release") || return 1
    version=$(venv_release "$venv" "$release") || return 1
    inventory_version=$(PATH="$venv/bin:$PATH" ansible-inventory --version 2>/dev/null | sed -n '1s/.*\[core \([^]]*\)\].*/\1/p')
    if [ "$inventory_version" != "$version" ]; then
        log "ERROR: ansible-inventory on PATH is '$inventory_version', not the venv's $version"
        return 1
    fi
    printf '%s %s\n' "$version" "$venv"
}

# run_pytest VERSION VENV [pytest args]: output in $LOG_DIR/pytest-VERSION.log, exit status in .rc,
# wall seconds in .seconds.
run_pytest() {
    local version=$1 venv=$2 started=$SECONDS rc=0
    shift 2
    (cd "$ROOT" && PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv" VIRTOPS_EXPECT_ANSIBLE_CORE="$version" \
        "$venv/bin/python" -m pytest -p no:cacheprovider -q -rfE --continue-on-collection-errors tests/unit "$@") \
        >"$LOG_DIR/pytest-$version.log" 2>&1 || rc=$?
    echo "$((SECONDS - started))" >"$LOG_DIR/pytest-$version.seconds"
    echo "$rc" >"$LOG_DIR/pytest-$version.rc"
}

# report VERSION VENV: prints the run's summary line (its whole output if it failed); 0 if it passed.
report() {
    local version=$1 venv=$2 log="$LOG_DIR/pytest-$1.log" rc
    rc=$(cat "$LOG_DIR/pytest-$version.rc" 2>/dev/null || echo 1)
    [ "$rc" -eq 0 ] || cat "$log"
    printf 'ansible-core %s (%s, %ss): %s\n' "$version" "$venv" "$(cat "$LOG_DIR/pytest-$version.seconds")" "$(tail -n 1 "$log")"
    case "$rc" in
        0) return 0 ;;
        5) log "ERROR: ansible-core $version: pytest ran no tests (exit 5)"; return 1 ;;
        *) return 1 ;;
    esac
}

check_requires_ansible
failed=()
prepared=()
started=$SECONDS
for release in $RELEASES; do
    if line=$(prepare_release "$release"); then
        prepared+=("$line")
    else
        failed+=("$release")
    fi
done
log "venvs ready after $((SECONDS - started))s; running pytest, $JOBS at a time"
# Much of a unit run is waiting (timeouts of hung-daemon tests): runs overlap well, up to a core each.
running=0
for line in "${prepared[@]}"; do
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    # shellcheck disable=SC2086  # "VERSION VENV": two arguments
    run_pytest $line "$@" &
    running=$((running + 1))
done
wait
for line in "${prepared[@]}"; do
    # shellcheck disable=SC2086
    report $line || failed+=("${line%% *}")
done
log "unit test matrix: $((SECONDS - started))s"
if [ "${#failed[@]}" -gt 0 ]; then
    die "unit tests failed under ansible-core ${failed[*]}"
fi
log "OK: unit tests pass under ansible-core $RELEASES"
