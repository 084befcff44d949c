#!/usr/bin/env bash
# Build the virtops.libvirt collection artifact, install it into a scratch
# collections path and prove that its documentation renders.
#
#   1. copy what git would ship (tracked + untracked, not ignored) to a scratch dir
#   2. ansible-galaxy collection build  -> $OUT/virtops-libvirt-<version>.tar.gz
#   3. ansible-galaxy collection install of that tarball into $OUT/collections
#   4. ansible-doc --list virtops.libvirt, and ansible-doc -t <type> for every
#      documented plugin found in the installed collection (modules, inventory, ...)
#   5. if ansible-builder is on PATH: `ansible-builder introspect` on the installed
#      collection, i.e. read meta/execution-environment.yml the way an EE build does
#
# Usage: tests/build.sh            (works from any cwd)
# Environment: BUILD_OUT  scratch dir, default ${TMPDIR:-/tmp}/virtops-build (emptied)
# Exit status: non-zero on the first failure.
set -euo pipefail

# shellcheck source=tests/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROOT=$(repo_root)
OUT=${BUILD_OUT:-"${TMPDIR:-/tmp}/virtops-build"}
SRC="$OUT/src/ansible_collections/$COLLECTION_NAMESPACE/$COLLECTION_NAME"
DIST="$OUT/dist"
COLLECTIONS="$OUT/collections"
FQCN="$COLLECTION_NAMESPACE.$COLLECTION_NAME"

require_cmd git ansible-galaxy ansible-doc

with_scratch_lock virtops-build
case "$OUT" in
    ""|/) die "refusing BUILD_OUT '$OUT'" ;;
esac
rm -rf -- "$OUT"
mkdir -p -- "$DIST" "$COLLECTIONS"

log "copying $ROOT -> $SRC"
copy_collection_tree "$ROOT" "$SRC"

# Keep user/system configuration out of the way: only our scratch collections.
printf '[defaults]\n' >"$OUT/ansible.cfg"
export ANSIBLE_CONFIG="$OUT/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS"
export ANSIBLE_NOCOLOR=1

# meta/runtime.yml's action group `libvirt` (module_defaults) must name every module.
log "checking action_groups.libvirt in meta/runtime.yml against plugins/modules/"
python3 - "$SRC" <<'PY'
import os
import sys

import yaml

root = sys.argv[1]
with open(os.path.join(root, 'meta', 'runtime.yml'), encoding='utf-8') as f:
    runtime = yaml.safe_load(f) or {}
group = (runtime.get('action_groups') or {}).get('libvirt') or []
listed = {entry.rsplit('.', 1)[-1] for entry in group if isinstance(entry, str)}
mod_dir = os.path.join(root, 'plugins', 'modules')
modules = set()
if os.path.isdir(mod_dir):
    modules = {name[:-3] for name in os.listdir(mod_dir)
               if name.endswith('.py') and not name.startswith('_')}
problems = ['module %s is missing from action_groups.libvirt' % m for m in sorted(modules - listed)]
problems += ['action_groups.libvirt names %s, which is not in plugins/modules/' % m for m in sorted(listed - modules)]
for problem in problems:
    print('meta/runtime.yml: ' + problem, file=sys.stderr)
sys.exit(1 if problems else 0)
PY

log "ansible-galaxy collection build"
ansible-galaxy collection build --output-path "$DIST" "$SRC"
shopt -s nullglob
tarballs=("$DIST/$COLLECTION_NAMESPACE-$COLLECTION_NAME-"*.tar.gz)
shopt -u nullglob
[ "${#tarballs[@]}" -eq 1 ] || die "expected exactly one tarball in $DIST, found ${#tarballs[@]}"
tarball=${tarballs[0]}
log "built $tarball ($(du -h "$tarball" | cut -f1), $(tar -tzf "$tarball" | wc -l) entries)"

# Nothing that build_ignore should drop may reach the artifact.
if leaked=$(tar -tzf "$tarball" | grep -E '(^|/)(tests/output|__pycache__|\.pytest_cache|\.git)(/|$)|\.pyc$|\.tar\.gz$'); then
    die "artifact contains files that should be ignored:"$'\n'"$leaked"
fi

log "ansible-galaxy collection install"
ansible-galaxy collection install --offline --no-deps -p "$COLLECTIONS" "$tarball"
INSTALLED="$COLLECTIONS/ansible_collections/$COLLECTION_NAMESPACE/$COLLECTION_NAME"
[ -f "$INSTALLED/MANIFEST.json" ] || die "no MANIFEST.json in $INSTALLED"
ansible-galaxy collection list -p "$COLLECTIONS" "$FQCN"

# ansible-doc: list, then render each documented plugin of each type found.
failures=0
for dir in "$INSTALLED"/plugins/*/; do
    ptype=$(basename "$dir")
    case "$ptype" in
        modules) ptype=module ;;
        module_utils|doc_fragments|plugin_utils) continue ;;
    esac
    plugins=()
    for f in "$dir"*.py; do
        [ -e "$f" ] || continue
        name=$(basename "$f" .py)
        case "$name" in __init__|_*) continue ;; esac
        plugins+=("$FQCN.$name")
    done
    [ "${#plugins[@]}" -gt 0 ] || continue
    log "ansible-doc --list -t $ptype $FQCN"
    ansible-doc --list -t "$ptype" "$FQCN"
    for p in "${plugins[@]}"; do
        # ansible-doc can print a warning and still exit 0 for a broken doc:
        # treat any "ERROR"/"[WARNING]: ... failed" on stderr as a failure too.
        if ! errs=$(ansible-doc -t "$ptype" "$p" 2>&1 >/dev/null) || grep -qiE 'error|failed|unable' <<<"$errs"; then
            log "ansible-doc -t $ptype $p FAILED:"$'\n'"$errs"
            failures=$((failures + 1))
        else
            log "ansible-doc -t $ptype $p: ok"
        fi
    done
done
[ "$failures" -eq 0 ] || die "$failures plugin doc(s) failed to render"

if command -v ansible-builder >/dev/null 2>&1; then
    log "ansible-builder introspect (how an EE build reads meta/execution-environment.yml)"
    ansible-builder introspect --sanitize "$COLLECTIONS"
else
    log "ansible-builder not installed: skipping the EE dependency check"
fi

log "OK: $tarball installs into $COLLECTIONS and its docs render"
