# shellcheck shell=bash
# The project's Python environment, made on demand: source this file, then call
#
#   use_project_venv
#
# which makes sure the project venv exists and is current, and puts it first on PATH (exported,
# with VIRTUAL_ENV), so ansible-playbook, ansible-test, pytest ... are the venv's.
#
#   venv      ${VIRTOPS_VENV:-<repo>/.venv}, made with the python3 on PATH (a stock Debian 12's
#             /usr/bin/python3 refuses `pip install` outside a venv, PEP 668: hence a venv). Once
#             made, it is kept whatever python3 a later caller has on PATH (several people and
#             scripts share one checkout: a venv made anew under a running test would break it);
#             only a venv whose interpreter no longer runs is made anew
#   holds     ansible-core 2.19.x, requirements.txt, pytest and every tests/requirements/*.txt
#   system    as root on Debian, the packages below are installed with apt-get when missing
#             (dpkg-query first: when all are there, apt is not run at all)
#   current   a stamp file in the venv holds a hash of every requirement file, this file and the
#             venv's Python; while it matches, nothing is installed (a call takes well under a second)
#
# Several scripts may call it at once (run-all.sh and the scripts it starts, or two people):
# a lock serialises the making; the quick check needs no lock.

if ! declare -F repo_root >/dev/null; then
    # shellcheck source=tests/lib/common.sh
    . "$(dirname "${BASH_SOURCE[0]}")/common.sh"
fi

# What the venv gets beyond the requirement files. ansible-core: the release the tests run on.
VIRTOPS_ANSIBLE_CORE_SPEC='ansible-core>=2.19,<2.20'
# Debian packages: venv + ensurepip, the headers and tools that build libvirt-python (no wheels on
# PyPI), shellcheck for ansible-test sanity's test of that name, and Java 17, which ansible-rulebook
# (tests/requirements/eda.txt: the EDA source's rulebook test) needs to run.
VIRTOPS_SYSTEM_PACKAGES=(python3-venv python3-dev libvirt-dev pkg-config gcc shellcheck openjdk-17-jre-headless)

# Prints the Debian packages of VIRTOPS_SYSTEM_PACKAGES that are not installed, one a line.
_bootstrap_missing_debs() {
    local installed
    installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${VIRTOPS_SYSTEM_PACKAGES[@]}" 2>/dev/null \
                | awk '$2 == "ii" {print $1}')
    local pkg
    for pkg in "${VIRTOPS_SYSTEM_PACKAGES[@]}"; do
        grep -qxF "$pkg" <<<"$installed" || printf '%s\n' "$pkg"
    done
}

_bootstrap_system_packages() {
    command -v dpkg-query >/dev/null 2>&1 || return 0   # not Debian: bindep.txt lists what to install
    local missing
    mapfile -t missing < <(_bootstrap_missing_debs)
    [ "${#missing[@]}" -gt 0 ] || return 0
    if [ "$(id -u)" -ne 0 ]; then
        die "missing system packages: ${missing[*]} (as root: apt-get install ${missing[*]}; or run this as root)"
    fi
    command -v apt-get >/dev/null 2>&1 || die "missing system packages ${missing[*]} and no apt-get to install them"
    log "installing system packages: ${missing[*]}"
    local aptlog
    aptlog=$(mktemp "${TMPDIR:-/tmp}/virtops-apt.XXXXXX")
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
           DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
               -o Dpkg::Options::=--force-confold "${missing[@]}"; } >"$aptlog" 2>&1; then
        tail -n 30 "$aptlog" >&2
        rm -f -- "$aptlog"
        die "apt-get could not install: ${missing[*]}"
    fi
    rm -f -- "$aptlog"
    mapfile -t missing < <(_bootstrap_missing_debs)
    [ "${#missing[@]}" -eq 0 ] || die "still missing after apt-get install: ${missing[*]}"
}

# The python3 that makes the venv: the first on PATH, leaving out the venv's own bin/ (a script
# started from another one finds the venv already first on PATH).
_bootstrap_base_python() {
    local venv=$1 dir
    local IFS=:
    for dir in $PATH; do
        [ -n "$dir" ] || continue
        [ "$dir" != "$venv/bin" ] || continue
        if [ -x "$dir/python3" ]; then
            printf '%s\n' "$dir/python3"
            return 0
        fi
    done
    return 1
}

# The requirement files, in a stable order.
_bootstrap_requirement_files() {
    local root=$1
    printf '%s\n' "$root/requirements.txt"
    find "$root/tests/requirements" -maxdepth 1 -name '*.txt' -type f 2>/dev/null | LC_ALL=C sort
}

# The stamp: what the venv was made from (its Python, the requirement files). A change makes the
# venv current again.
_bootstrap_stamp() {
    local root=$1 python=$2 identity
    identity=$("$python" -c 'import platform, sys; print(sys._base_executable, platform.python_version())' 2>/dev/null) \
        || return 1
    {
        printf '%s\n%s\n' "$identity" "$VIRTOPS_ANSIBLE_CORE_SPEC"
        local f
        while IFS= read -r f; do
            printf '%s\n' "${f#"$root"/}"
            cat -- "$f"
        done < <(_bootstrap_requirement_files "$root")
        cat -- "$root/tests/lib/bootstrap.sh"
    } | sha256sum | cut -d' ' -f1
}

# True if the venv's interpreter runs (its base Python may have gone: a pyenv version removed).
_bootstrap_venv_runs() {
    [ -x "$1/bin/python" ] && "$1/bin/python" -c '' 2>/dev/null
}

# _bootstrap_make_venv VENV ROOT: makes VENV if it has no working interpreter, with the python3
# on PATH, and installs everything into it.
_bootstrap_make_venv() {
    local venv=$1 root=$2 piplog python
    if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ]; then
        die "$venv exists and is not a venv: move it away or set VIRTOPS_VENV"
    fi
    if ! _bootstrap_venv_runs "$venv"; then
        python=$(_bootstrap_base_python "$venv") || die "no python3 on PATH (Debian: apt-get install python3 python3-venv)"
        if [ -e "$venv" ]; then
            log "remaking $venv: its interpreter does not run"
            rm -rf -- "$venv"
        fi
        "$python" -c 'import ensurepip, venv' 2>/dev/null \
            || die "$python cannot make a venv (Debian: apt-get install python3-venv)"
        log "making the project venv $venv with $python"
        "$python" -m venv "$venv" || die "$python -m venv $venv failed"
    fi
    local reqs=() f
    while IFS= read -r f; do
        reqs+=(-r "$f")
    done < <(_bootstrap_requirement_files "$root")
    piplog="$venv/bootstrap-pip.log"
    log "installing into $venv: $VIRTOPS_ANSIBLE_CORE_SPEC pytest ${reqs[*]//$root\//}"
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check \
            "$VIRTOPS_ANSIBLE_CORE_SPEC" pytest "${reqs[@]}" >"$piplog" 2>&1; then
        tail -n 40 "$piplog" >&2
        die "pip could not install the project's Python packages into $venv (whole log: $piplog)"
    fi
    "$venv/bin/python" - <<'PY' || die "the project venv $venv is incomplete after pip install (see $piplog)"
import sys

import ansible
import libvirt  # noqa: F401
import lxml  # noqa: F401
import pytest  # noqa: F401

if not ansible.__version__.startswith('2.19.'):
    sys.exit('ansible-core %s, not 2.19.x' % ansible.__version__)
PY
}

_bootstrap_export() {
    local venv=$1
    case ":$PATH:" in
        ":$venv/bin:"*) ;;
        *) PATH="$venv/bin:$PATH" ;;
    esac
    export PATH VIRTUAL_ENV="$venv"
    unset PYTHONHOME
    hash -r
}

# True if VENV runs and its stamp says it holds what ROOT's requirement files ask for.
_bootstrap_venv_current() {
    local venv=$1 root=$2
    local stamp
    [ -x "$venv/bin/python" ] && [ -f "$venv/.virtops-stamp" ] &&
        stamp=$(_bootstrap_stamp "$root" "$venv/bin/python") && [ "$(cat "$venv/.virtops-stamp")" = "$stamp" ]
}

use_project_venv() {
    local root venv lock
    root=$(repo_root)
    venv=${VIRTOPS_VENV:-"$root/.venv"}
    case "$venv" in
        /*) ;;
        *) venv="$PWD/$venv" ;;
    esac
    _bootstrap_system_packages
    if _bootstrap_venv_current "$venv" "$root"; then
        _bootstrap_export "$venv"
        return 0
    fi
    mkdir -p -- "$(dirname "$venv")"
    lock="${TMPDIR:-/tmp}/virtops-venv-$(printf '%s' "$venv" | sha256sum | cut -c1-12).lock"
    exec 7>"$lock"
    if ! flock -n 7; then
        log "another run is making $venv; waiting"
        flock 7
    fi
    # Another run may have made it current while this one waited.
    if ! _bootstrap_venv_current "$venv" "$root"; then
        local started=$SECONDS
        rm -f -- "$venv/.virtops-stamp"
        _bootstrap_make_venv "$venv" "$root"
        _bootstrap_stamp "$root" "$venv/bin/python" >"$venv/.virtops-stamp.new" || die "cannot run $venv/bin/python"
        mv -f -- "$venv/.virtops-stamp.new" "$venv/.virtops-stamp"
        log "project venv $venv ready after $((SECONDS - started))s"
    fi
    exec 7>&-
    _bootstrap_export "$venv"
}
