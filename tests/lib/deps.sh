#!/bin/sh
# deps.sh - installs the Debian packages named on the command line that are
# not installed yet (apt-get update once, only when something is missing).
# An argument CMD=PKG+PKG installs those packages only when the command CMD
# is missing (node and npm may come from another packaging of Node.js).
set -eu
missing=""
for p in "$@"; do
    case "$p" in
    *=*)
        cmd=${p%%=*}
        if ! command -v "$cmd" > /dev/null 2>&1; then
            missing="$missing $(echo "${p#*=}" | tr '+' ' ')"
        fi
        ;;
    *)
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing="$missing $p"
        fi
        ;;
    esac
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: not root; install these packages first:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
