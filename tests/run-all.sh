#!/usr/bin/env bash
# Every test of virtops.libvirt, as CI runs them (as root: the rig starts libvirt daemons):
#   1. ansible-test sanity (tests/sanity.sh)
#   2. build + install the collection artifact, render its docs (tests/build.sh)
#   3. unit tests (libvirt's test driver) under each ansible-core that meta/runtime.yml claims
#      (2.16 - 2.19), each in its own venv (tests/unit-matrix.sh)
#   4. bring up the real rig: host A, host B, the tiny agent guest (tests/rig/rig up)
#   5. pytest on the system ansible-core (2.19): the rig smoke test, the integration tests on
#      the rig (modules run as Ansible runs them) and the demo playbook
# Usage: tests/run-all.sh [extra pytest arguments for step 5]
# Any failure stops the run with a non-zero status; so does a pytest that ran no test (exit 5).
set -euo pipefail
# shellcheck source=tests/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
ROOT=$(repo_root)
cd "$ROOT"

step() { printf '\n=== %s ===\n' "$*"; }

step "sanity"
tests/sanity.sh
step "build, install, ansible-doc"
tests/build.sh
step "unit tests under each ansible-core"
started=$SECONDS
tests/unit-matrix.sh
printf 'unit test matrix: %ss\n' "$((SECONDS - started))"
step "rig up"
tests/rig/rig up
step "rig smoke and integration tests"
exec python3 -m pytest -p no:cacheprovider -q tests/rig/test_rig_smoke.py tests/integration "$@"
