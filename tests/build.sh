#!/usr/bin/env bash
# Build the virtops.libvirt collection artifact, install it into a scratch
# collections path and prove that its documentation renders.
#
#   1. copy what git would ship (tracked + untracked, not ignored) to a scratch dir
#   2. changelog: `antsibull-changelog lint` on every fragment; CHANGELOG.rst is what
#      `antsibull-changelog generate` makes of changelogs/changelog.yaml; a release of the
#      fragments (in a copy of its own, the version in galaxy.yml unchanged) renders every entry
#   3. ansible-galaxy collection build  -> $OUT/virtops-libvirt-<version>.tar.gz, with decoys of
#      what build_ignore must keep out planted first (a venv, test output, the docs build, the
#      rig's and the benchmarks' state, integration_config.yml, caches); the artifact's file
#      count and size are printed, and it fails above MAX_ARTIFACT_KIB or with any decoy in it
#   4. ansible-galaxy collection install of that tarball into $OUT/collections
#   5. ansible-doc --list virtops.libvirt, and ansible-doc -t <type> for every
#      documented plugin found in the installed collection (modules, inventory, ...)
#   6. execution environment: `ansible-builder introspect` on the installed collection (reads
#      meta/execution-environment.yml as an EE build does) and `ansible-builder create` on the
#      EE definition meta/ee/execution-environment.yml (a build context, no image: building one
#      needs a container runtime and a registry, which this machine cannot reach)
#
# Usage: tests/build.sh            (works from any cwd)
# Environment: BUILD_OUT  scratch dir, default ${TMPDIR:-/tmp}/virtops-build (emptied)
#              MAX_ARTIFACT_KIB  size bound of the artifact, default 1024
# Exit status: non-zero on the first failure.
set -euo pipefail

# shellcheck source=tests/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=tests/lib/bootstrap.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/bootstrap.sh"
use_project_venv

ROOT=$(repo_root)
OUT=${BUILD_OUT:-"${TMPDIR:-/tmp}/virtops-build"}
SRC="$OUT/src/ansible_collections/$COLLECTION_NAMESPACE/$COLLECTION_NAME"
DIST="$OUT/dist"
COLLECTIONS="$OUT/collections"
FQCN="$COLLECTION_NAMESPACE.$COLLECTION_NAME"

require_cmd git ansible-galaxy ansible-doc antsibull-changelog ansible-builder
MAX_ARTIFACT_KIB=${MAX_ARTIFACT_KIB:-1024}

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

check_changelog() {
    local scratch="$OUT/changelog/ansible_collections/$COLLECTION_NAMESPACE/$COLLECTION_NAME" version
    log "antsibull-changelog lint (every fragment)"
    (cd "$SRC" && antsibull-changelog lint) || die "changelog fragments fail antsibull-changelog lint"
    # CHANGELOG.rst must be what changelog.yaml says (a release commits both). Before the first
    # release there is neither (antsibull-changelog generate refuses an empty release list).
    if python3 -c 'import sys, yaml; sys.exit(not (yaml.safe_load(open(sys.argv[1])) or {}).get("releases"))' \
            "$SRC/changelogs/changelog.yaml"; then
        cp -a -- "$SRC" "$OUT/changelog-generate"
        (cd "$OUT/changelog-generate" && antsibull-changelog generate) || die "antsibull-changelog generate failed"
        if ! diff -u "$SRC/CHANGELOG.rst" "$OUT/changelog-generate/CHANGELOG.rst"; then
            die "CHANGELOG.rst is not what 'antsibull-changelog generate' makes of changelogs/changelog.yaml"
        fi
    elif [ -e "$SRC/CHANGELOG.rst" ]; then
        die "CHANGELOG.rst exists but changelogs/changelog.yaml has no release: run antsibull-changelog release"
    fi
    # A release of the fragments as they are, in a copy (it consumes the fragments); ansible-doc
    # finds the copy through ANSIBLE_COLLECTIONS_PATH to list the new modules, plugins and roles.
    version=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["version"])' "$SRC/galaxy.yml")
    mkdir -p -- "$(dirname "$scratch")"
    cp -a -- "$SRC" "$scratch"
    log "antsibull-changelog release --version $version (a scratch copy)"
    (cd "$scratch" && ANSIBLE_COLLECTIONS_PATH="$OUT/changelog" antsibull-changelog release --version "$version") \
        || die "antsibull-changelog release failed"
    python3 - "$SRC" "$scratch/CHANGELOG.rst" "$version" <<'PY' || die "the generated changelog misses entries"
import glob
import os
import sys

import yaml

src, rst, version = sys.argv[1:]
with open(os.path.join(src, 'changelogs', 'config.yaml'), encoding='utf-8') as f:
    sections = {key for key, _title in yaml.safe_load(f)['sections']}
entries = 0
for path in glob.glob(os.path.join(src, 'changelogs', 'fragments', '*.y*ml')):
    with open(path, encoding='utf-8') as f:
        fragment = yaml.safe_load(f) or {}
    entries += sum(len(items) for key, items in fragment.items() if key in sections)
# Bullets per section of the release: '- ' lines under a title underlined with '---'.
lines = open(rst, encoding='utf-8').read().splitlines()
changes = new_things = 0
title = ''
for previous, line in zip([''] + lines, lines):
    if line and set(line) == {'-'} and len(line) == len(previous):
        title = previous
    elif line.startswith('- ') and title:
        if title.startswith('New '):
            new_things += 1
        else:
            changes += 1
if 'v' + version not in lines:
    sys.exit('no v%s section in the generated changelog' % version)
print('changelog v%s: %d entries from the fragments, %d new modules/plugins/roles' % (version, changes, new_things))
if changes != entries:
    sys.exit('the fragments hold %d entries, the generated changelog %d' % (entries, changes))
if new_things == 0:
    sys.exit('the generated changelog lists no new module, plugin or role')
PY
}

# What build_ignore must keep out, planted where a developer's checkout would have it.
plant_build_ignore_decoys() {
    local decoy
    for decoy in .venv/bin/python .venv-other/pyvenv.cfg venv/pyvenv.cfg tests/output/junit/x.xml \
                 .ansible/collections/ansible_collections/virtops/libvirt/galaxy.yml \
                 tests/rig/output/serial.log tests/rig/cache/vmlinuz \
                 tests/integration/integration_config.yml docs/build/html/index.html \
                 benchmarks/cache/host1/x.xml benchmarks/results/run.json benchmarks/inventory-bench.json \
                 benchmarks/migrate.prof plugins/modules/__pycache__/x.cpython-311.pyc \
                 .pytest_cache/v/x changelogs/.plugin-cache.yaml; do
        mkdir -p -- "$SRC/$(dirname "$decoy")"
        printf 'decoy\n' >"$SRC/$decoy"
    done
}

check_changelog

plant_build_ignore_decoys
log "ansible-galaxy collection build"
ansible-galaxy collection build --output-path "$DIST" "$SRC"
shopt -s nullglob
tarballs=("$DIST/$COLLECTION_NAMESPACE-$COLLECTION_NAME-"*.tar.gz)
shopt -u nullglob
[ "${#tarballs[@]}" -eq 1 ] || die "expected exactly one tarball in $DIST, found ${#tarballs[@]}"
tarball=${tarballs[0]}
size_kib=$(( ($(stat -c %s "$tarball") + 1023) / 1024 ))
files=$(tar -tzf "$tarball" | grep -vc '/$' || true)
log "built $tarball: ${size_kib} KiB, $files files (bound: ${MAX_ARTIFACT_KIB} KiB)"
[ "$size_kib" -le "$MAX_ARTIFACT_KIB" ] || die "the artifact is ${size_kib} KiB, above ${MAX_ARTIFACT_KIB} KiB: what got in?"

# Nothing that build_ignore should drop may reach the artifact.
ignored='(^|/)(\.venv[^/]*|venv|\.ansible|tests/output|tests/rig/(output|cache)|docs/build|benchmarks/(cache|state|results)|__pycache__|\.pytest_cache|\.git)(/|$)'
ignored+='|(^|/)integration_config\.yml$|\.pyc$|\.prof$|\.tar\.gz$|^benchmarks/[^/]*\.json$|\.plugin-cache\.yaml$'
if leaked=$(tar -tzf "$tarball" | grep -E "$ignored"); then
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

# Every role of the artifact is listed by ansible-doc and its argument spec renders.
roles=()
for dir in "$INSTALLED"/roles/*/; do
    [ -f "$dir/meta/argument_specs.yml" ] || die "role $(basename "$dir") has no meta/argument_specs.yml"
    roles+=("$FQCN.$(basename "$dir")")
done
[ "${#roles[@]}" -gt 0 ] || die "the artifact holds no role"
listed=$(ansible-doc --list -t role "$FQCN")
printf '%s\n' "$listed"
for role in "${roles[@]}"; do
    grep -qE "^$role(:| )" <<<"$listed" || die "ansible-doc --list -t role does not list $role"
    if ! errs=$(ansible-doc -t role "$role" 2>&1 >/dev/null) || grep -qiE 'error|failed|unable' <<<"$errs"; then
        die "ansible-doc -t role $role failed:"$'\n'"$errs"
    fi
    log "ansible-doc -t role $role: ok"
done

log "ansible-builder introspect (how an EE build reads meta/execution-environment.yml)"
introspected=$(ansible-builder introspect --sanitize "$COLLECTIONS") || die "ansible-builder introspect failed"
printf '%s\n' "$introspected"
for needed in libvirt-python lxml libvirt-dev gcc; do
    grep -q "$needed" <<<"$introspected" || die "ansible-builder introspect does not see $needed"
done
log "ansible-builder create on meta/ee/execution-environment.yml (a build context; no image is built)"
ansible-builder create -f "$SRC/meta/ee/execution-environment.yml" -c "$OUT/ee-context" \
    --output-filename Containerfile -v 1 || die "ansible-builder create refused meta/ee/execution-environment.yml"
grep -q 'ansible-galaxy' "$OUT/ee-context/Containerfile" || die "the EE Containerfile installs no collection"

log "OK: $tarball installs into $COLLECTIONS and its docs render"
