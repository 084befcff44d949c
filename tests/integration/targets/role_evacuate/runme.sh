#!/usr/bin/env bash
# role_evacuate on the rig: two small guests on host A; a refused run (nothing fits, policy fail)
# moves nothing; the role moves both to host B; its re-run changes nothing; back to host A with
# room for one only (policy shutdown): one moves, the other is shut down on B; that re-run changes
# nothing either. The guests are removed on exit, whatever happened.
set -euo pipefail
export ANSIBLE_ROLES_PATH=..
# The rig's settings: ansible-test copies tests/integration/integration_config.yml next to the
# targets but passes it to role targets only.
if [ -f ../../integration_config.yml ]; then
    set -- -e @../../integration_config.yml "$@"
fi
prefix="virtops-rolesbe-evac-$RANDOM$RANDOM"
log_dir=$(mktemp -d)
cleanup() {
    ansible-playbook cleanup.yml -e "evac_prefix=$prefix" "$@" || true
    rm -rf -- "$log_dir"
}
trap 'cleanup "$@"' EXIT

play() {  # play PHASE ARGS...: run evacuate.yml in PHASE, keep its output
    local phase=$1
    shift
    ansible-playbook evacuate.yml -e "evac_prefix=$prefix" -e "evac_phase=$phase" "$@" | tee "$log_dir/$phase.log"
}

unchanged() {  # unchanged PHASE: the play recap of PHASE counts no change
    if ! grep -Eq '^localhost +: ok=[0-9]+ +changed=0 ' "$log_dir/$1.log"; then
        echo "FAILED: the re-run ($1) changed something:" >&2
        grep -E '^localhost +:' "$log_dir/$1.log" >&2
        exit 1
    fi
}

ansible-playbook prepare.yml -e "evac_prefix=$prefix" "$@"
play refuse "$@"
play to_b "$@"
play to_b_again "$@"
unchanged to_b_again
play back "$@"
play back_again "$@"
unchanged back_again
