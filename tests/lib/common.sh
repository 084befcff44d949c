# shellcheck shell=bash
# Shared helpers for the test scripts of virtops.libvirt (tests/*.sh).
# Source it; it defines functions and a few variables, and runs nothing else.
#
#   COLLECTION_NAMESPACE / COLLECTION_NAME   virtops / libvirt
#   repo_root                                absolute path of the repository (= collection root)
#   log MESSAGE...                           message on stderr, prefixed with the script name
#   die MESSAGE...                           log and exit 1
#   require_cmd CMD...                       die unless every CMD is on PATH
#   copy_collection_tree SRC DEST            copy what git would ship (tracked + untracked,
#                                            not ignored) from SRC into a fresh DEST
#   with_scratch_lock NAME                   serialise runs that share one scratch dir

# shellcheck disable=SC2034  # used by the scripts that source this file
COLLECTION_NAMESPACE=virtops
# shellcheck disable=SC2034
COLLECTION_NAME=libvirt

_common_script_name=$(basename "$0")

log() {
    printf '%s: %s\n' "$_common_script_name" "$*" >&2
}

die() {
    log "ERROR: $*"
    exit 1
}

require_cmd() {
    local cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found on PATH"
    done
}

# The repository root, whatever the caller's cwd: tests/lib/ is two levels down.
repo_root() {
    (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
}

# copy_collection_tree SRC DEST
# Copies the files git lists as tracked or untracked-but-not-ignored
# (git ls-files -co --exclude-standard) from SRC into DEST, which is emptied
# first. Tracked files deleted from the work tree are skipped. Without git
# metadata in SRC, everything is copied.
copy_collection_tree() {
    local src=$1 dest=$2
    if [ -z "$dest" ] || [ "$dest" = "/" ]; then
        die "copy_collection_tree: refusing DEST '$dest'"
    fi
    rm -rf -- "$dest"
    mkdir -p -- "$dest"
    if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        require_cmd tar
        # -z: NUL-separated names survive any character; keep only files that exist.
        git -C "$src" ls-files -z -co --exclude-standard \
            | (cd "$src" && while IFS= read -r -d '' f; do
                   if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
               done) \
            | tar -C "$src" --null --no-recursion -T - -cf - \
            | tar -C "$dest" -xf -
    else
        log "WARNING: $src is not a git work tree; copying everything"
        cp -a -- "$src/." "$dest/"
    fi
}

# with_scratch_lock NAME
# Takes an exclusive lock (fd 9) so that two runs of the same script on one
# machine do not wipe each other's scratch directory. Held until the caller exits.
with_scratch_lock() {
    local lock="${TMPDIR:-/tmp}/$1.lock"
    command -v flock >/dev/null 2>&1 || return 0
    exec 9>"$lock"
    if ! flock -n 9; then
        log "another run holds $lock; waiting"
        flock 9
    fi
}
