#!/usr/bin/env bash
# The unit tests (tests/unit, the inventory security tests among them) under every ansible-core
# release that meta/runtime.yml claims and Python 3.11 runs: one venv per release, made here.
#
#   1. check that the matrix covers the lower bound of requires_ansible in meta/runtime.yml
#   2. per release: a venv (python3 -m venv --system-site-packages, so libvirt-python, lxml and
#      pytest of the system python serve) with that ansible-core installed INTO the venv, shadowing
#      the system's; reused while it still imports that release from inside itself
#   3. per release: pytest tests/unit with the venv's bin first on PATH (the inventory tests start
#      ansible-inventory), printing the release used and pytest's summary line
#
# Usage: tests/unit-matrix.sh [pytest arguments...]     (works from any cwd)
# Environment:
#   ANSIBLE_CORE_RELEASES  releases to test, default "2.16 2.17 2.18 2.19"
#   VIRTOPS_VENV_DIR       where the venvs live, default /var/tmp/virtops-venvs-<uid> (kept between runs)
# Exit status: 0 only if every release ran tests and all passed. pytest's 5 ("no tests ran") fails.
set -euo pipefail

# shellcheck source=tests/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROOT=$(repo_root)
RELEASES=${ANSIBLE_CORE_RELEASES:-"2.16 2.17 2.18 2.19"}
VENV_DIR=${VIRTOPS_VENV_DIR:-"/var/tmp/virtops-venvs-$(id -u)"}
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

# Prints the venv's ansible-core version if the venv imports release $2 from inside itself.
venv_release() {
    local venv=$1 release=$2
    [ -x "$venv/bin/python" ] || return 1
    "$venv/bin/python" - "$venv" "$release" <<'PY' 2>/dev/null
import os
import sys

import ansible
import libvirt  # noqa: F401  the system's build, through --system-site-packages
import lxml  # noqa: F401
import pytest  # noqa: F401

venv, release = os.path.realpath(sys.argv[1]), sys.argv[2]
inside = os.path.realpath(ansible.__file__).startswith(venv + os.sep)
if not inside or not ansible.__version__.startswith(release + '.'):
    sys.exit(1)
print(ansible.__version__)
PY
}

# ensure_venv RELEASE: prints the venv's path; makes (or remakes) it unless it is still right.
ensure_venv() {
    local release=$1 venv log
    venv="$VENV_DIR/py$(python3 -c 'import platform; print(platform.python_version())')-ansible-core-$release"
    log="$LOG_DIR/venv-$release.log"
    mkdir -p "$VENV_DIR"
    # Two runs on one machine share the venvs: one makes a venv while the other waits.
    exec 8>"$venv.lock"
    flock 8
    if ! venv_release "$venv" "$release" >/dev/null; then
        log "making $venv"
        rm -rf -- "$venv"
        # --ignore-installed --no-deps: the venv gets its own ansible-core even when the system's
        # matches the release; the second install adds only the dependencies the system lacks.
        if ! { python3 -m venv --system-site-packages "$venv" &&
               "$venv/bin/python" -m pip install -q --disable-pip-version-check --ignore-installed --no-deps "ansible-core==$release.*" &&
               "$venv/bin/python" -m pip install -q --disable-pip-version-check "ansible-core==$release.*"; } >"$log" 2>&1; then
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

# run_release RELEASE [pytest args]: 0 if the unit tests pass under that release.
run_release() {
    local release=$1 venv version inventory_version log rc
    shift
    # Called in `||` context, where set -e does not apply: every step checks its own status.
    venv=$(ensure_venv "$release") || return 1
    version=$(venv_release "$venv" "$release") || return 1
    inventory_version=$(PATH="$venv/bin:$PATH" ansible-inventory --version 2>/dev/null | sed -n '1s/.*\[core \([^]]*\)\].*/\1/p')
    if [ "$inventory_version" != "$version" ]; then
        log "ERROR: ansible-inventory on PATH is '$inventory_version', not the venv's $version"
        return 1
    fi
    log="$LOG_DIR/pytest-$release.log"
    set +e
    (cd "$ROOT" && PATH="$venv/bin:$PATH" VIRTOPS_EXPECT_ANSIBLE_CORE="$version" \
        "$venv/bin/python" -m pytest -p no:cacheprovider -q -rfE --continue-on-collection-errors tests/unit "$@") >"$log" 2>&1
    rc=$?
    set -e
    if [ "$rc" -ne 0 ]; then
        cat "$log"
    fi
    printf 'ansible-core %s (%s): %s\n' "$version" "$venv" "$(tail -n 1 "$log")"
    case "$rc" in
        0) return 0 ;;
        5) log "ansible-core $version: pytest ran no tests (exit 5): that is a failure"; return 1 ;;
        *) return 1 ;;
    esac
}

check_requires_ansible
failed=()
for release in $RELEASES; do
    started=$SECONDS
    run_release "$release" "$@" || failed+=("$release")
    log "ansible-core $release: $((SECONDS - started))s"
done
if [ "${#failed[@]}" -gt 0 ]; then
    die "unit tests failed under ansible-core ${failed[*]}"
fi
log "OK: unit tests pass under ansible-core $RELEASES"
