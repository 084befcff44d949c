#!/usr/bin/env bash
# Every test of virtops.libvirt, as CI runs them (as root: the rig starts libvirt daemons). On a
# fresh Debian 12 machine it sets up what it needs itself (no other step before it):
#   0. the project venv (tests/lib/bootstrap.sh): missing Debian packages, then ansible-core 2.19,
#      requirements.txt, pytest and tests/requirements/*.txt in ${VIRTOPS_VENV:-.venv}, first on PATH
#   1. ansible-test sanity (tests/sanity.sh)
#   2. build + install the collection artifact, its file list and size, render its docs, changelog
#      lint and generation, the execution environment definition (tests/build.sh)
#   3. ansible-lint on roles/ and playbooks/ (tests/lint.sh)
#   4. the docs site, warnings are errors (tests/docs.sh)
#   5. unit tests (libvirt's test driver) under each ansible-core that meta/runtime.yml claims,
#      each in its own venv (tests/unit-matrix.sh)
#   6. bring up the real rig: host A, host B, the tiny agent guest (tests/rig/rig up)
#   7. ansible-test integration of every target in tests/integration/targets (tests/integration-targets.sh)
#   8. pytest on the venv's ansible-core (2.19): the rig smoke test, the integration tests on the
#      rig (modules run as Ansible runs them) and the demo playbook
#   9. the fault-injection suite (tests/faults): daemons restarted and killed, hung agents,
#      contention, full disks, malformed input, lost connections, load
# Usage: tests/run-all.sh [extra pytest arguments for steps 8 and 9]
# Any failure stops the run with a non-zero status; so does a pytest that ran no test (exit 5).
set -euo pipefail
# shellcheck source=tests/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=tests/lib/bootstrap.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/bootstrap.sh"
ROOT=$(repo_root)
cd "$ROOT"

declare -a timings=()
# step NAME COMMAND...: runs one step, notes its wall time; a failure ends the run.
step() {
    local name=$1 started=$SECONDS
    shift
    printf '\n=== %s ===\n' "$name"
    "$@"
    timings+=("$(printf '%6ss  %s' "$((SECONDS - started))" "$name")")
}
print_timings() {
    [ "${#timings[@]}" -gt 0 ] || return 0
    printf '\n=== time per step ===\n'
    printf '%s\n' "${timings[@]}"
}
trap print_timings EXIT

step "bootstrap (project venv)" use_project_venv
step "sanity" tests/sanity.sh
step "build, install, ansible-doc, changelog, EE definition" tests/build.sh
step "ansible-lint" tests/lint.sh
step "docs site" tests/docs.sh
step "unit tests under each ansible-core" tests/unit-matrix.sh
step "rig up" tests/rig/rig up
step "ansible-test integration targets" tests/integration-targets.sh
step "rig smoke and integration tests" \
    python3 -m pytest -p no:cacheprovider -q --durations=15 tests/rig/test_rig_smoke.py tests/integration "$@"
step "fault injection suite" \
    python3 -m pytest -p no:cacheprovider -q --durations=15 tests/faults "$@"
