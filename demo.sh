#!/usr/bin/env bash
# The main job: set up what is missing (Debian packages and the project venv with ansible-core,
# tests/lib/bootstrap.sh), bring up the local libvirt rig (idempotent; as root) and run
# playbooks/demo.yml with this checkout as the virtops.libvirt collection. Extra arguments go to
# ansible-playbook (e.g. ./demo.sh -v --diff).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=tests/lib/common.sh
. "$here/tests/lib/common.sh"
# shellcheck source=tests/lib/bootstrap.sh
. "$here/tests/lib/bootstrap.sh"
use_project_venv
"$here/tests/rig/rig" up
# ansible needs the collection under ansible_collections/<namespace>/<name>: a symlink serves,
# in a directory of this checkout's own (the one tests/collection_path.py uses): never another's.
collections="${TMPDIR:-/tmp}/virtops-collections-$(id -u)-$(printf '%s' "$here" | sha256sum | cut -c1-12)"
mkdir -p "$collections/ansible_collections/virtops"
ln -sfn "$here" "$collections/ansible_collections/virtops/libvirt"
export ANSIBLE_COLLECTIONS_PATH="$collections"
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
exec ansible-playbook -i localhost, "$here/playbooks/demo.yml" "$@"
