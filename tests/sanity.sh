#!/usr/bin/env bash
# Run `ansible-test sanity` on virtops.libvirt.
#
# ansible-test insists on a real ansible_collections/<namespace>/<name>/ path
# (it resolves symlinks), so this script copies the collection's files (tracked
# + untracked-not-ignored) to
#   ${TMPDIR:-/tmp}/virtops-sanity/ansible_collections/virtops/libvirt/
# (fresh on every run) and runs ansible-test there. Works from any cwd.
#
# Usage: tests/sanity.sh [ansible-test sanity options...]
#   tests/sanity.sh                      # all sanity tests
#   tests/sanity.sh --test pep8          # one test
#   tests/sanity.sh --test validate-modules -v
# Environment:
#   SANITY_PYTHON   Python version for ansible-test (--python), default 3.11
#   ANSIBLE_TEST    ansible-test command, default: ansible-test on PATH (the project venv's, 2.19)
# Exit status: ansible-test's.
#
# Offline note: ansible-test bootstraps pip in each test venv with a script it
# downloads from ci-files.testing.ansible.com, which this network cannot reach.
# It first looks in ~/.ansible/test/cache/get_pip_<version>.py, so we put a
# stand-in there that uses the interpreter's ensurepip and then installs the
# requested pip from the package index (PyPI is reachable).
set -euo pipefail

# shellcheck source=tests/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=tests/lib/bootstrap.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/bootstrap.sh"
use_project_venv

ROOT=$(repo_root)
SANITY_PYTHON=${SANITY_PYTHON:-3.11}
ANSIBLE_TEST=${ANSIBLE_TEST:-ansible-test}
SCRATCH="${TMPDIR:-/tmp}/virtops-sanity"
COLL="$SCRATCH/ansible_collections/$COLLECTION_NAMESPACE/$COLLECTION_NAME"

require_cmd git "$ANSIBLE_TEST"
if ! command -v shellcheck >/dev/null 2>&1; then
    # ansible-test then only warns and skips the shellcheck test.
    log "WARNING: shellcheck not installed: the shellcheck sanity test will be SKIPPED (apt-get install shellcheck)"
fi

# Python that runs ansible-test (to find its sources and the pip version it wants).
AT_PYTHON=$(head -n1 "$(command -v "$ANSIBLE_TEST")" | sed -n 's/^#! *//p' | awk '{print $1}')
case "$AT_PYTHON" in
    */env|"") AT_PYTHON=python3 ;;
esac
if ! "$AT_PYTHON" -c 'import ansible_test' 2>/dev/null; then
    AT_PYTHON=python3
fi

install_get_pip_bootstrap() {
    local pip_version cache_dir cache_file marker='virtops-libvirt offline get-pip stand-in'
    # ansible_test/_internal/python_requirements.py: get_venv_packages() -> default_packages = dict(pip='24.2')
    pip_version=$("$AT_PYTHON" - <<'PY'
import os, re, ansible_test
src = os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')
with open(src, encoding='utf-8') as f:
    m = re.search(r"default_packages\s*=\s*dict\(\s*pip\s*=\s*'([^']+)'", f.read())
print(m.group(1) if m else '')
PY
)
    [ -n "$pip_version" ] || die "cannot find the pip version ansible-test bootstraps (ansible_test source changed?)"
    cache_dir="$HOME/.ansible/test/cache"
    cache_file="$cache_dir/get_pip_${pip_version//./_}.py"
    if [ -f "$cache_file" ] && ! grep -q "$marker" "$cache_file"; then
        log "using existing pip bootstrap $cache_file"
        return 0
    fi
    mkdir -p "$cache_dir"
    cat >"$cache_file.tmp.$$" <<PY
"""${marker} (written by tests/sanity.sh).

ansible-test runs this as get-pip.py inside a fresh venv without pip, with pip
install arguments (e.g. --disable-pip-version-check pip==${pip_version} --no-setuptools
--no-wheel). Instead of a download, use the interpreter's bundled pip
(ensurepip), then install the requested pip from the package index.
"""
import subprocess
import sys

args = sys.argv[1:]
no_setuptools = '--no-setuptools' in args
args = [a for a in args if a not in ('--no-setuptools', '--no-wheel')]
in_venv = sys.prefix != getattr(sys, 'base_prefix', sys.prefix)

subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'])
rc = subprocess.call([sys.executable, '-m', 'pip', 'install'] + args)
if rc == 0 and no_setuptools and in_venv:
    # ensurepip of Python < 3.12 also installs setuptools; the real get-pip would not.
    subprocess.call([sys.executable, '-m', 'pip', 'uninstall', '--yes', '--quiet', 'setuptools'])
sys.exit(rc)
PY
    mv -f "$cache_file.tmp.$$" "$cache_file"
    log "wrote pip $pip_version bootstrap stand-in: $cache_file"
}

with_scratch_lock virtops-sanity
install_get_pip_bootstrap

log "copying $ROOT -> $COLL"
rm -rf -- "$SCRATCH"
copy_collection_tree "$ROOT" "$COLL"

cd "$COLL"
log "running: $ANSIBLE_TEST sanity --python $SANITY_PYTHON --color no $*"
start=$SECONDS
set +e
"$ANSIBLE_TEST" sanity --python "$SANITY_PYTHON" --color no "$@"
rc=$?
set -e
log "ansible-test exited $rc after $((SECONDS - start))s (results: $COLL/tests/output/)"
exit "$rc"
