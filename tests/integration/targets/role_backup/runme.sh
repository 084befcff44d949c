#!/usr/bin/env bash
# role_backup on the rig (full_every 2, keep 1 chain): a guest with a data disk; slot 1 makes a
# full backup, slot 1 again changes nothing, data written in the guest, slot 2 makes an
# incremental backup that restores (with the README's qemu-img steps) to a disk holding the data,
# slot 3 starts a new chain and retention removes the first one (files and checkpoints).
# The guest and the backups are removed on exit, whatever happened.
set -euo pipefail
export ANSIBLE_ROLES_PATH=..
# The rig's settings: ansible-test copies tests/integration/integration_config.yml next to the
# targets but passes it to role targets only.
if [ -f ../../integration_config.yml ]; then
    set -- -e @../../integration_config.yml "$@"
fi
guest="virtops-rolesbe-bk-$RANDOM$RANDOM"
log_dir=$(mktemp -d)
cleanup() {
    ansible-playbook cleanup.yml -e "bk_guest=$guest" "$@" || true
    rm -rf -- "$log_dir"
}
trap 'cleanup "$@"' EXIT

play() {  # play STEP ARGS...: run backup.yml for STEP, keep its output
    local step=$1
    shift
    ansible-playbook backup.yml -e "bk_guest=$guest" -e "bk_step=$step" "$@" | tee "$log_dir/$step.log"
}

ansible-playbook prepare.yml -e "bk_guest=$guest" "$@"
play full "$@"
play full_again "$@"
if ! grep -Eq '^localhost +: ok=[0-9]+ +changed=0 ' "$log_dir/full_again.log"; then
    echo "FAILED: the second run in the same slot changed something:" >&2
    grep -E '^localhost +:' "$log_dir/full_again.log" >&2
    exit 1
fi
play incremental "$@"
ansible-playbook restore.yml -e "bk_guest=$guest" "$@"
play new_chain "$@"
