#!/usr/bin/env bash
# Run ansible-lint (the production profile, settings in .ansible-lint) over the collection's
# roles, playbooks and the role_guest integration target. Offline: no collection installs, no
# schema refresh, no version check (--offline, and `offline: true` in .ansible-lint).
#
# ansible-lint's syntax check must resolve virtops.libvirt.* names, so the collection is made
# visible through a temporary ansible_collections/virtops/libvirt symlink to this checkout
# (ANSIBLE_COLLECTIONS_PATH); with that set, ansible-lint also leaves the checkout alone
# (no .ansible/ install of the collection into it).
#
# Usage: tests/lint.sh [ansible-lint options...] [paths...]
#   tests/lint.sh                      # roles/ playbooks/ tests/integration/targets/role_guest/
#   tests/lint.sh roles/guest          # one path
# Exit status: ansible-lint's (0: clean).
set -euo pipefail

# shellcheck source=tests/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=tests/lib/bootstrap.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/bootstrap.sh"
use_project_venv

ROOT=$(repo_root)
require_cmd ansible-lint

# What is linted when no path is given. The other integration targets follow the setup_rig
# variable convention (virtops_*), which var-naming[no-role-prefix] rejects in roles.
DEFAULT_PATHS=(roles playbooks tests/integration/targets/role_guest)

has_path=0
for arg in "$@"; do
    case "$arg" in
        -*) ;;
        *) has_path=1 ;;
    esac
done
paths=()
if [ "$has_path" = 0 ]; then
    paths=("${DEFAULT_PATHS[@]}")
fi

collections=$(mktemp -d "${TMPDIR:-/tmp}/virtops-lint.XXXXXX")
trap 'rm -rf -- "$collections"' EXIT
mkdir -p "$collections/ansible_collections/$COLLECTION_NAMESPACE"
ln -s "$ROOT" "$collections/ansible_collections/$COLLECTION_NAMESPACE/$COLLECTION_NAME"

export ANSIBLE_COLLECTIONS_PATH="$collections"
export ANSIBLE_LINT_SKIP_SCHEMA_UPDATE=1

cd "$ROOT"
log "running: ansible-lint --offline $* ${paths[*]}"
start=$SECONDS
set +e
ansible-lint --offline --nocolor -c "$ROOT/.ansible-lint" "$@" "${paths[@]}"
rc=$?
set -e
log "ansible-lint exited $rc after $((SECONDS - start))s"
exit "$rc"
