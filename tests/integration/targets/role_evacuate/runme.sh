#!/usr/bin/env bash
# role_evacuate on the rig: two small guests on host A; a refused run (nothing fits, policy fail)
# moves nothing; the role moves both to host B; its re-run changes nothing; back to host A with
# room for one only (policy shutdown): one moves, the other is shut down on B; that re-run changes
# nothing either. The guests are removed on exit, whatever happened.
set -euo pipefail
export ANSIBLE_ROLES_PATH=..
# shellcheck source=tests/integration/targets/setup_rig/files/playbook_runs.sh
. ../setup_rig/files/playbook_runs.sh
prefix="virtops-rolesbe-evac-$RANDOM$RANDOM"
cleanup() {
    run_logged cleanup cleanup.yml -e "evac_prefix=$prefix" "$@" || true
    remove_run_logs
}
trap 'cleanup "$@"' EXIT

play() {  # play PHASE ARGS...: run evacuate.yml in PHASE
    local phase=$1
    shift
    run_logged "$phase" evacuate.yml -e "evac_prefix=$prefix" -e "evac_phase=$phase" "$@"
}

run_logged prepare prepare.yml -e "evac_prefix=$prefix" "$@"
play refuse "$@"
play to_b "$@"
play to_b_again "$@"
assert_unchanged to_b_again
play back "$@"
play back_again "$@"
assert_unchanged back_again
