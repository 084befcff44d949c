#!/usr/bin/env bash
# Run the ansible-test integration targets of virtops.libvirt on the local rig.
#
# ansible-test insists on a real ansible_collections/<namespace>/<name>/ path, so this
# script copies the collection's files (tracked + untracked-not-ignored) to
#   ${TMPDIR:-/tmp}/virtops-targets/ansible_collections/virtops/libvirt/
# (fresh on every run), writes tests/integration/integration_config.yml there from
# tests/rig/rig_env.py (the rig's URIs and paths: one source, so they cannot drift), checks
# that the rig is up and runs
#   ansible-test integration --local --allow-destructive [TARGET...]
# with the project venv's Python. Every target under tests/integration/targets/ runs (the
# setup_* ones as dependencies), or only the TARGETs given. The full output goes to a log
# file; the terminal shows one line per target and the failures.
#
# Usage: tests/integration-targets.sh [TARGET...] [-- extra ansible-test options]
#   tests/integration-targets.sh                     # all targets
#   tests/integration-targets.sh domain_state        # one target
#   tests/integration-targets.sh domain_state -- -vvv
# Environment:
#   VIRTOPS_TARGETS_VERBOSE=1   stream ansible-test's whole output too
# Exit status: 0 when every selected target ran and passed; 1 when one failed, was
# skipped by ansible-test or did not run, or when no target ran at all.
set -euo pipefail

# shellcheck source=tests/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=tests/lib/bootstrap.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/bootstrap.sh"
use_project_venv
PYTHON=$(command -v python || command -v python3)

ROOT=$(repo_root)
SCRATCH="${TMPDIR:-/tmp}/virtops-targets"
COLL="$SCRATCH/ansible_collections/$COLLECTION_NAMESPACE/$COLLECTION_NAME"
LOG="$SCRATCH/integration.log"

targets=()
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --) shift; extra=("$@"); break ;;
        -*) die "unknown option '$1' (ansible-test options go after --)" ;;
        *) targets+=("$1"); shift ;;
    esac
done

require_cmd git ansible-test ansible-playbook
[ "$(id -u)" = 0 ] || die "the targets drive the system libvirtd and carry needs/root: run as root"

# The targets that must run: those asked for, else every directory that is not a helper.
expected=()
if [ ${#targets[@]} -gt 0 ]; then
    for t in "${targets[@]}"; do
        [ -d "$ROOT/tests/integration/targets/$t" ] || die "no target '$t' under tests/integration/targets/"
        expected+=("$t")
    done
else
    for d in "$ROOT"/tests/integration/targets/*/; do
        t=$(basename "$d")
        case "$t" in setup_*|prepare_*) continue ;; esac
        expected+=("$t")
    done
fi
[ ${#expected[@]} -gt 0 ] || die "no integration targets found under tests/integration/targets/"

log "checking the rig (tests/rig/rig status)"
if ! "$ROOT/tests/rig/rig" status >/dev/null; then
    die "the rig is not up: run 'tests/rig/rig up' (as root) first"
fi

with_scratch_lock virtops-targets
log "copying $ROOT -> $COLL"
rm -rf -- "$SCRATCH"
copy_collection_tree "$ROOT" "$COLL"

# integration_config.yml from rig_env: ansible-test passes it to every target as extra vars.
"$PYTHON" - "$ROOT/tests/rig" "$COLL/tests/integration/integration_config.yml" <<'PY'
import json
import sys

sys.path.insert(0, sys.argv[1])
import rig_env  # noqa: E402

config = {
    "virtops_uri": rig_env.HOST_A_URI,
    "virtops_uri_b": rig_env.HOST_B_URI,
    "virtops_uri_a_from_b": rig_env.HOST_A_URI_FROM_B,
    "virtops_migration_uri_to_b": rig_env.MIGRATION_URI_TO_B,
    "virtops_migration_uri_to_a": rig_env.MIGRATION_URI_TO_A,
    "virtops_kernel": rig_env.KERNEL,
    "virtops_initrd": rig_env.INITRD,
    "virtops_data_base": rig_env.DATA_BASE_IMAGE,
    "virtops_images_dir": rig_env.IMAGES_DIR,
    "virtops_serial_log_dir": rig_env.SERIAL_LOG_DIR,
    "virtops_guest_user": rig_env.GUEST_USER,
    "virtops_prefix": rig_env.PREFIX,
}
with open(sys.argv[2], "w", encoding="utf-8") as f:
    f.write("# Written by tests/integration-targets.sh from tests/rig/rig_env.py; do not edit.\n")
    for key, value in config.items():
        f.write(f"{key}: {json.dumps(value)}\n")  # JSON strings are YAML strings
PY

python_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cmd=(ansible-test integration --local --python "$python_version" --allow-destructive
     --continue-on-error --color no)
cmd+=("${extra[@]}" "${targets[@]}")

cd "$COLL"
log "running: ${cmd[*]}"
log "full output: $LOG"
# summarise_output: ansible-test's output on stdin; on stderr one line per target (with its
# seconds), each failed task (its name and result; failures a target expects, shown by
# ansible as "...ignoring", are left out), ansible-test's errors and warnings.
summarise_output() {
    local line current='' since=$SECONDS task='' pending='' open_result=''
    while IFS= read -r line; do
        if [ "${VIRTOPS_TARGETS_VERBOSE:-0}" = 1 ]; then
            printf '%s\n' "$line" >&2
            continue
        fi
        if [ -n "$pending" ] && [ -n "$open_result" ]; then
            # a result ansible prints over several lines, up to its closing brace
            pending+=$'\n  '"$line"
            [ "$line" = "}" ] && open_result=''
            continue
        fi
        if [ -n "$pending" ]; then
            [ "$line" = "...ignoring" ] || printf '  %s\n  %s\n' "$task" "$pending" >&2
            pending=''
        fi
        case "$line" in
            "Running "*" integration test "*)
                if [ -n "$current" ]; then log "  $current done ($((SECONDS - since))s)"; fi
                current=${line#Running }; current=${current%% integration test*}
                since=$SECONDS
                log "target $current ..." ;;
            "TASK ["*) task=${line%% \**} ;;
            fatal:*|failed:*)
                pending=$line
                case "$line" in *"=> {") open_result=1 ;; esac ;;
            ERROR*|FATAL*|WARNING*|*Excluding*) printf '%s\n' "$line" >&2 ;;
        esac
    done
    if [ -n "$pending" ]; then printf '  %s\n  %s\n' "$task" "$pending" >&2; fi
    if [ -n "$current" ]; then log "  $current done ($((SECONDS - since))s)"; fi
}

start=$SECONDS
set +e
PYTHONUNBUFFERED=1 "${cmd[@]}" 2>&1 | tee "$LOG" | summarise_output
rc=${PIPESTATUS[0]}
set -e
elapsed=$((SECONDS - start))

# ansible-test's own verdicts, read back from the log.
failed=$(sed -n '/integration test(s) listed below/,$p' "$LOG" | sed -n 's/^ *\([A-Za-z0-9_]\{1,\}\)$/\1/p' || true)
status=0
missing=()
for t in "${expected[@]}"; do
    if ! grep -qx "Running $t integration test \(role\|script\)" "$LOG"; then
        missing+=("$t")
    fi
done
if grep -q 'Excluding' "$LOG"; then
    log "FAILED: ansible-test excluded targets (see the 'Excluding' warning above)"
    status=1
fi
if [ ${#missing[@]} -gt 0 ]; then
    log "FAILED: these targets did not run: ${missing[*]}"
    status=1
fi
if ! grep -q '^Running .* integration test ' "$LOG"; then
    log "FAILED: no target ran"
    status=1
fi
if [ -n "$failed" ]; then
    log "FAILED targets: $(echo "$failed" | tr '\n' ' ')"
    status=1
fi
if [ "$rc" != 0 ]; then
    log "ansible-test exited $rc"
    status=1
fi
ran=$(grep -c '^Running .* integration test ' "$LOG" || true)
if [ "$status" = 0 ]; then
    log "OK: $ran target(s) passed in ${elapsed}s"
else
    log "FAILED after ${elapsed}s ($ran target(s) started; full output: $LOG)"
fi
exit "$status"
