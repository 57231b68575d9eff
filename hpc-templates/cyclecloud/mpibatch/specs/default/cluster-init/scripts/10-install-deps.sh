#!/bin/bash
# 10-install-deps.sh - cluster-init (runs as root on every node at boot):
# installs what building and running mpibatch needs, from the distribution's
# packages: Open MPI, parallel HDF5, libcurl, OpenSSL, expat, jansson, inih,
# a C compiler, make, git, pkg-config. Debian/Ubuntu and AlmaLinux/Rocky/RHEL
# 8-9 (EPEL for inih). It installs nothing else and changes no service.
set -euo pipefail

log() { echo "mpibatch 10-install-deps: $*"; }

# shellcheck source=/dev/null
. /etc/os-release
case " ${ID:-} ${ID_LIKE:-} " in
    *" debian "* | *" ubuntu "*)
        export DEBIAN_FRONTEND=noninteractive
        pkgs=(openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools
              libcurl4-openssl-dev libssl-dev libexpat1-dev libjansson-dev
              libinih-dev libpg-query-dev make gcc git pkg-config)
        missing=()
        for p in "${pkgs[@]}"; do
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
                missing+=("$p")
        done
        if [ ${#missing[@]} -gt 0 ]; then
            log "installing ${missing[*]}"
            apt-get update -qq
            apt-get install -y -qq --no-install-recommends "${missing[@]}"
        fi
        ;;
    *" rhel "* | *" centos "* | *" fedora "* | *" almalinux "* | *" rocky "*)
        major=${VERSION_ID%%.*}
        rpm -q epel-release > /dev/null 2>&1 || dnf install -y -q epel-release
        # CodeReady Builder (9) / PowerTools (8) carry some -devel packages.
        if [ "$major" -ge 9 ]; then
            dnf config-manager --set-enabled crb
        else
            dnf config-manager --set-enabled powertools
        fi
        log "installing the Open MPI and HDF5 development packages"
        dnf install -y -q openmpi openmpi-devel hdf5-openmpi-devel libcurl-devel \
            openssl-devel expat-devel jansson-devel inih-devel make gcc git pkgconf-pkg-config
        # The EL Open MPI lives outside PATH (environment module mpi/openmpi-x86_64).
        cat > /etc/profile.d/mpibatch-openmpi.sh <<'PROFILE'
# written by mpibatch cluster-init: Open MPI on PATH for mpibatch
case ":$PATH:" in *:/usr/lib64/openmpi/bin:*) ;; *) PATH=/usr/lib64/openmpi/bin:$PATH ;; esac
export PKG_CONFIG_PATH=/usr/lib64/openmpi/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
PROFILE
        ;;
    *)
        log "unsupported distribution '${ID:-unknown}': install the packages by hand" >&2
        exit 1
        ;;
esac
log "done"
