# shellcheck shell=bash
# For the runme.sh targets (role_backup, role_evacuate): source it, then
#   run_logged NAME PLAYBOOK ARGS...   ansible-playbook with the rig's settings, its output kept as NAME
#   assert_unchanged NAME              the play recap of NAME counts no change, else the target fails
#   remove_run_logs                    for the target's cleanup
# The rig's settings: ansible-test copies tests/integration/integration_config.yml next to the
# targets but passes it to role targets only, so runme.sh targets pass it themselves.
RIG_SETTINGS=()
if [ -f ../../integration_config.yml ]; then
    RIG_SETTINGS=(-e @../../integration_config.yml)
fi
RUN_LOG_DIR=$(mktemp -d)

run_logged() {
    local name=$1 playbook=$2
    shift 2
    ansible-playbook "$playbook" "${RIG_SETTINGS[@]}" "$@" | tee "$RUN_LOG_DIR/$name.log"
}

assert_unchanged() {
    if ! grep -Eq '^localhost +: ok=[0-9]+ +changed=0 ' "$RUN_LOG_DIR/$1.log"; then
        echo "FAILED: the re-run ($1) changed something:" >&2
        grep -E '^localhost +:' "$RUN_LOG_DIR/$1.log" >&2
        exit 1
    fi
}

remove_run_logs() {
    rm -rf -- "$RUN_LOG_DIR"
}
