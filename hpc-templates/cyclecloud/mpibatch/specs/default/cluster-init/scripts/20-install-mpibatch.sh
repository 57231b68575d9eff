#!/bin/bash
# 20-install-mpibatch.sh - cluster-init (runs as root on every node after
# 10-install-deps.sh): builds mpibatch from the shared copy of its source,
# /shared/mpibatch/mpibatch-src.tar.gz (a `git archive` tarball), installs
# it in /usr/local with `make install`, and puts the Slurm template and the
# launch helpers beside it in /shared/mpibatch/:
#   /shared/mpibatch/mpibatch.sbatch       hpc-templates/slurm/mpibatch.sbatch
#   /shared/mpibatch/mpibatch-mpirun       hpc-templates/launch/ (also in /usr/local/bin)
# The first node that finds no tarball on the share publishes the one this
# project carries (files/mpibatch-src.tar.gz). A build is cached on the
# share per source digest, OS release and machine, so that nodes of the same
# image (Spot nodes come and go) install it without compiling.
# Exit: 0 installed (or, on the scheduler, no source yet: a warning),
# 1 no source or the build failed on an execute node.
set -euo pipefail

share=/shared/mpibatch
tarball=$share/mpibatch-src.tar.gz
here=$(cd "$(dirname "$0")" && pwd)
files=${CYCLECLOUD_SPEC_PATH:-$here/..}/files
log() { echo "mpibatch 20-install-mpibatch: $*"; }

# put SRC DEST [MODE]: copies SRC to DEST on the share atomically (readers
# never see half a file) when they differ.
put() {
    cmp -s "$1" "$2" && return 0
    cp "$1" "$2.tmp.$$"
    chmod "${3:-644}" "$2.tmp.$$"
    mv -f "$2.tmp.$$" "$2"
}

# EL: Open MPI is outside PATH (see 10-install-deps.sh).
if [ -r /etc/profile.d/mpibatch-openmpi.sh ]; then
    # shellcheck source=/dev/null
    . /etc/profile.d/mpibatch-openmpi.sh
fi

mkdir -p "$share"
if [ ! -f "$tarball" ] && [ -f "$files/mpibatch-src.tar.gz" ]; then
    log "publishing the project's source tarball on the share"
    put "$files/mpibatch-src.tar.gz" "$tarball"
fi
if [ ! -f "$tarball" ]; then
    role=$(jetpack config slurm.role 2>/dev/null || echo unknown)
    log "no source: copy a \`git archive\` tarball to $tarball" >&2
    [ "$role" = scheduler ] && exit 0
    exit 1
fi

# shellcheck source=/dev/null
. /etc/os-release
digest=$(sha256sum < "$tarball" | cut -c1-16)
cache=$share/build/$digest-${ID:-os}${VERSION_ID:-}-$(uname -m)
work=$(mktemp -d /tmp/mpibatch-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
# `git archive --prefix=mpibatch/` puts everything in one folder.
src=$work
[ -f "$src/Makefile" ] || src=$(dirname "$(find "$work" -maxdepth 2 -name Makefile | head -n 1)")
[ -f "$src/Makefile" ] || { log "$tarball holds no Makefile" >&2; exit 1; }

# `make install` puts the binary, the launch helpers, the man page and the
# bash completion in /usr/local. WERROR= : a warning of a newer compiler
# must not stop a node from installing.
if [ -x "$cache/mpibatch" ]; then
    log "installing the cached build $cache"
    # -o: the cached binary counts as built; make installs it as it is.
    mkdir -p "$src/build"
    cp "$cache/mpibatch" "$src/build/mpibatch"
    make -C "$src" -o build/mpibatch install PREFIX=/usr/local WERROR=
else
    log "building mpibatch from $tarball"
    make -C "$src" -j "$(nproc)" install PREFIX=/usr/local WERROR=
    mkdir -p "$cache"
    put "$src/build/mpibatch" "$cache/mpibatch" 755
fi

for f in mpibatch-mpirun hostfile-from-vmss; do
    if [ -f "$src/hpc-templates/launch/$f" ]; then
        put "$src/hpc-templates/launch/$f" "$share/$f" 755
    fi
done
if [ -f "$src/hpc-templates/slurm/mpibatch.sbatch" ]; then
    put "$src/hpc-templates/slurm/mpibatch.sbatch" "$share/mpibatch.sbatch" 755
fi
log "installed $(/usr/local/bin/mpibatch --version 2>/dev/null || echo mpibatch)"
