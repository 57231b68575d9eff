# shellcheck shell=sh
# netns.sh - two "hosts" on one machine for the multi-host tests (sourced
# after tap.sh). Each host is a network namespace with its own address on a
# private /24 that exists only between the two namespaces (a veth pair), and
# each command run "on" a host also gets its own UTS namespace, hence its own
# hostname. The filesystem stays shared, as NFS would be between real hosts.
# No route leaves the namespaces: nothing here can reach another machine.
#
#   netns_check            prints why namespaces are unusable, returns 1 then
#   netns_reap             deletes namespaces left by killed runs of this test
#   netns_up               creates both hosts (teardown is left to netns_down)
#   netns_down             deletes both namespaces (and with them the veth)
#   netns_on HOST CMD...   runs the command line CMD on HOST (address, A or B)
#   netns_ns HOST          the namespace of HOST
#   netns_agent FILE       writes an Open MPI launch agent (plm_rsh_agent)
#
# Names are unique per test run: namespaces mbA$$ and mbB$$ (also the
# hostnames), veth mbvA$$ and mbvB$$, subnet 10.199.X.0/24 with X from $$.
# Two runs may share a subnet number; their namespaces keep them apart.

NS_A="mbA$$"
NS_B="mbB$$"
NS_VETH_A="mbvA$$"
NS_VETH_B="mbvB$$"
NS_NET="10.199.$(($$ % 250 + 1))"
NS_ADDR_A="$NS_NET.1"
NS_ADDR_B="$NS_NET.2"

netns_check() {
    if [ "$(id -u)" -ne 0 ]; then echo "not root"; return 1; fi
    for c in ip unshare hostname; do
        command -v "$c" >/dev/null 2>&1 || { echo "$c not installed"; return 1; }
    done
    probe="mbprobe$$"
    if ! ip netns add "$probe" 2>/dev/null; then
        echo "cannot create network namespaces (no CAP_SYS_ADMIN?)"
        return 1
    fi
    uts=0
    ip netns exec "$probe" unshare --uts hostname mbprobe 2>/dev/null || uts=1
    ip netns del "$probe" 2>/dev/null
    if [ "$uts" -ne 0 ]; then echo "cannot create UTS namespaces"; return 1; fi
    return 0
}

# A run killed with SIGKILL cannot delete its namespaces: whichever run
# comes next deletes those whose creator (the pid in the name) is gone.
netns_reap() {
    for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
        case $ns in
            mbA[0-9]* | mbB[0-9]* | mbprobe[0-9]*) pid=${ns#mbprobe} pid=${pid#mb[AB]} ;;
            *) continue ;;
        esac
        case $pid in *[!0-9]*) continue ;; esac
        kill -0 "$pid" 2>/dev/null || ip netns del "$ns" 2>/dev/null
    done
    return 0
}

netns_up() {
    ip netns add "$NS_A" || return 1
    ip netns add "$NS_B" || return 1
    ip link add "$NS_VETH_A" netns "$NS_A" type veth peer name "$NS_VETH_B" netns "$NS_B" ||
        return 1
    ip -n "$NS_A" addr add "$NS_ADDR_A/24" dev "$NS_VETH_A" || return 1
    ip -n "$NS_B" addr add "$NS_ADDR_B/24" dev "$NS_VETH_B" || return 1
    for ns in "$NS_A" "$NS_B"; do
        ip -n "$ns" link set lo up || return 1
    done
    ip -n "$NS_A" link set "$NS_VETH_A" up || return 1
    ip -n "$NS_B" link set "$NS_VETH_B" up || return 1
    # Both ends must report carrier before the first packet (no ping here:
    # it is not always installed).
    i=0
    until ip -n "$NS_A" link show dev "$NS_VETH_A" | grep -q LOWER_UP &&
        ip -n "$NS_B" link show dev "$NS_VETH_B" | grep -q LOWER_UP; do
        i=$((i + 1))
        [ $i -ge 50 ] && return 1
        sleep 0.1
    done
    return 0
}

# Deleting a namespace destroys the veth end inside it, and with it the pair.
# Open MPI names its session directories after the hostname, ours alone:
# those a failed run left behind go too.
netns_down() {
    ip netns del "$NS_A" 2>/dev/null
    ip netns del "$NS_B" 2>/dev/null
    rm -rf "${TMPDIR:-/tmp}/ompi.$NS_A".* "${TMPDIR:-/tmp}/ompi.$NS_B".*
    return 0
}

# netns_ns HOST: the namespace of HOST (its address, its name, A or B).
netns_ns() {
    case $1 in
        A | "$NS_ADDR_A" | "$NS_A") echo "$NS_A" ;;
        B | "$NS_ADDR_B" | "$NS_B") echo "$NS_B" ;;
        *) return 1 ;;
    esac
}

# netns_inner: the half of every command that runs inside the host's network
# namespace, with "$0" = the host's name. A fresh UTS namespace gets that
# hostname, and the command line "$*" starts with only the environment a
# remote login would carry, plus what Open MPI needs as root: anything else
# must travel explicitly (mpirun -x), as between real hosts.
netns_inner() {
    cat <<'EOF'
hostname "$0" || exit 70
exec env -i ${PATH+"PATH=$PATH"} ${LD_LIBRARY_PATH+"LD_LIBRARY_PATH=$LD_LIBRARY_PATH"} \
    ${HOME+"HOME=$HOME"} ${TMPDIR+"TMPDIR=$TMPDIR"} \
    ${OMPI_ALLOW_RUN_AS_ROOT+"OMPI_ALLOW_RUN_AS_ROOT=$OMPI_ALLOW_RUN_AS_ROOT"} \
    ${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM+"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=$OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"} \
    sh -c "$*"
EOF
}

# netns_on HOST CMD...: runs the command line CMD... on HOST, as ssh would
# (the words joined by spaces, run by sh), for at most NETNS_TIMEOUT seconds
# (default 600; then SIGTERM, SIGKILL 30 s later).
netns_on() {
    ns=$(netns_ns "$1") || { echo "netns_on: unknown host '$1'" >&2; return 2; }
    shift
    timeout -k 30 "${NETNS_TIMEOUT:-600}" \
        ip netns exec "$ns" unshare --uts sh -c "$(netns_inner)" "$ns" "$@"
}

# netns_agent FILE: writes the launch agent with which mpirun starts its
# daemon on the other host (`--mca plm_rsh_agent FILE`), the stand-in for
# ssh. mpirun calls it as `FILE HOST CMD...`; each call is logged to FILE.log.
netns_agent() {
    {
        echo '#!/bin/sh'
        echo '# Launch agent for mpirun (plm_rsh_agent), written by tests/lib/netns.sh:'
        echo '# AGENT HOST CMD... runs the command line CMD on HOST, a network namespace.'
        printf 'log=%s.log a=%s b=%s ns_a=%s ns_b=%s\n' \
            "$1" "$NS_ADDR_A" "$NS_ADDR_B" "$NS_A" "$NS_B"
        cat <<'EOF'
host=$1
shift
echo "$host $*" >> "$log"
case $host in
    "$a" | "$ns_a") ns=$ns_a ;;
    "$b" | "$ns_b") ns=$ns_b ;;
    *) echo "agent: unknown host '$host'" >&2; exit 255 ;;
esac
inner=$(cat <<'INNER'
EOF
        netns_inner
        cat <<'EOF'
INNER
)
exec ip netns exec "$ns" unshare --uts sh -c "$inner" "$ns" "$@"
EOF
    } > "$1"
    chmod 755 "$1"
}
