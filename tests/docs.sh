#!/usr/bin/env bash
# The collection's documentation site, warnings are errors:
#   1. antsibull-docs lint-collection-docs --plugin-docs: the DOCUMENTATION/EXAMPLES/RETURN blocks,
#      the roles' meta/argument_specs.yml and the guide in docs/docsite/ (labels, references, rstcheck)
#   2. every virtops.libvirt option the guide's YAML examples use exists (tests/docs_options.py)
#   3. antsibull-docs collection: RST pages of every module, plugin and role found in the tree
#      (no list kept by hand) plus the guide, into docs/build/rst
#   4. sphinx-build -W --keep-going (nitpicky) into docs/build/html; no network needed
# Usage: tests/docs.sh   (open docs/build/html/index.html afterwards)
set -euo pipefail
# shellcheck source=tests/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=tests/lib/bootstrap.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/bootstrap.sh"
use_project_venv
ROOT=$(repo_root)
cd "$ROOT"
require_cmd antsibull-docs sphinx-build ansible-doc python3
with_scratch_lock "virtops-docs-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"

# ansible-doc and antsibull-docs --use-current find the collection through ANSIBLE_COLLECTIONS_PATH:
# this checkout's own symlink farm (tests/collection_path.py), never another checkout's.
farm=$(python3 -c 'import sys; sys.path.insert(0, "tests"); import collection_path as c; c._link_farm(c.COLLECTION_FARM); print(c.COLLECTION_FARM)')
export ANSIBLE_COLLECTIONS_PATH="$farm"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
collection="$farm/ansible_collections/$COLLECTION_NAMESPACE/$COLLECTION_NAME"

build="$ROOT/docs/build"
rm -rf -- "$build"
mkdir -p -- "$build/rst"
chmod og-w "$build/rst"   # antsibull-docs wants its output directory writable by its owner only

log "lint: plugin, module and role docs, and the guide"
antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs \
    --validate-collection-refs dependent --disallow-unknown-collection-refs "$collection"

log "the guide's examples use only options that exist"
python3 tests/docs_options.py docs/docsite/rst

log "RST pages of every module, plugin and role"
antsibull-docs --config-file docs/site/antsibull-docs.cfg collection --use-current --squash-hierarchy \
    --fail-on-error --cleanup everything --dest-dir "$build/rst" "$COLLECTION_NAMESPACE.$COLLECTION_NAME"

log "HTML (warnings are errors)"
VIRTOPS_DOCS_INVENTORY="$build/ansible_devel.inv" \
    sphinx-build -b html -c docs/site -W --keep-going -n -q "$build/rst" "$build/html"
log "site built: $build/html/index.html"
