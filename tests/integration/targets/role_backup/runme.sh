#!/usr/bin/env bash
# role_backup on the rig (full_every 2, keep 1 chain): a guest with a data disk; slot 1 makes a
# full backup, slot 1 again changes nothing, data written in the guest, slot 2 makes an
# incremental backup that restores (with the README's qemu-img steps) to a disk holding the data,
# slot 3 starts a new chain and retention removes the first one (files and checkpoints).
# The guest and the backups are removed on exit, whatever happened.
set -euo pipefail
export ANSIBLE_ROLES_PATH=..
# shellcheck source=tests/integration/targets/setup_rig/files/playbook_runs.sh
. ../setup_rig/files/playbook_runs.sh
guest="virtops-rolesbe-bk-$RANDOM$RANDOM"
cleanup() {
    run_logged cleanup cleanup.yml -e "bk_guest=$guest" "$@" || true
    remove_run_logs
}
trap 'cleanup "$@"' EXIT

play() {  # play STEP ARGS...: run backup.yml for STEP
    local step=$1
    shift
    run_logged "$step" backup.yml -e "bk_guest=$guest" -e "bk_step=$step" "$@"
}

run_logged prepare prepare.yml -e "bk_guest=$guest" "$@"
play full "$@"
play full_again "$@"
assert_unchanged full_again
play incremental "$@"
run_logged restore restore.yml -e "bk_guest=$guest" "$@"
play new_chain "$@"
