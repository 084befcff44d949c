#!/usr/bin/env bash
# Every test of virtops.libvirt, as CI runs them (as root: the rig starts libvirt daemons):
#   1. ansible-test sanity (tests/sanity.sh)
#   2. build + install the collection artifact, render its docs (tests/build.sh)
#   3. bring up the real rig: host A, host B, the tiny agent guest (tests/rig/rig up)
#   4. pytest: unit tests (libvirt's test driver), the rig smoke test, the integration
#      tests on the rig (modules run as Ansible runs them) and the demo playbook
# Usage: tests/run-all.sh [extra pytest arguments]
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
step "rig up"
tests/rig/rig up
step "unit, rig smoke and integration tests"
exec python3 -m pytest -p no:cacheprovider -q tests/unit tests/rig/test_rig_smoke.py tests/integration "$@"
