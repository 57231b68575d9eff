#!/bin/sh
# Launch helpers without a cluster: mpibatch-mpirun's fabric choice on fake
# /sys trees (HB-style InfiniBand with a partition key, ND-style with
# several devices, ports down, Ethernet-only mlx5, none) seen through its
# dry run, the cases where it must add nothing, its signal forwarding to a
# fake mpirun (every stop signal becomes SIGUSR1, mpirun's status is kept),
# and hostfile-from-vmss against a fake Azure CLI; and that all these
# scripts pass shellcheck.
. tests/lib/tap.sh

L=hpc-templates/launch
WRAP="$L/mpibatch-mpirun"
TCP="mpirun --mca pml ob1 --mca btl tcp,vader,self -np 2 prog"

# port SYSFS DEV PORT STATE LINK_LAYER [PKEY...]: a fake port, pkeys at
# indices 0, 1, ... and zeros after them, as the kernel shows them.
port() {
    d="$1/class/infiniband/$2/ports/$3"
    mkdir -p "$d/pkeys"
    echo "$4" > "$d/state"
    echo "$5" > "$d/link_layer"
    shift 5
    i=0
    for k in "$@" 0x0000 0x0000; do echo "$k" > "$d/pkeys/$i"; i=$((i + 1)); done
}

# dry SYSFS ARGS...: the wrapper's mpirun command line for that /sys.
dry() {
    s=$1
    shift
    MPIBATCH_SYSFS=$s MPIBATCH_LAUNCH_DRY_RUN=1 "$WRAP" "$@"
}

mkdir -p "$T/none"
is "$(dry "$T/none" -np 2 prog)" "$TCP" "no InfiniBand: TCP fallback"

port "$T/hb" mlx5_ib0 1 "4: ACTIVE" InfiniBand 0x800b 0x7fff
is "$(dry "$T/hb" -np 2 prog)" \
    "mpirun --mca pml ucx -x UCX_NET_DEVICES=mlx5_ib0:1 -x UCX_IB_PKEY=0x000b -np 2 prog" \
    "HB-series: UCX on the active port, the non-default pkey without its membership bit"

port "$T/hb2" mlx5_0 1 "4: ACTIVE" InfiniBand 0x7fff 0x8015
port "$T/hb2" mlx5_an0 1 "4: ACTIVE" Ethernet 0xffff
is "$(dry "$T/hb2" -np 2 prog)" \
    "mpirun --mca pml ucx -x UCX_NET_DEVICES=mlx5_0:1 -x UCX_IB_PKEY=0x0015 -np 2 prog" \
    "pkey found at any index; the accelerated-networking (Ethernet) device is skipped"

port "$T/nd" mlx5_ib0 1 "4: ACTIVE" InfiniBand 0x8001 0x7fff
port "$T/nd" mlx5_ib1 1 "4: ACTIVE" InfiniBand 0x8001 0x7fff
port "$T/nd" mlx5_ib2 1 "1: DOWN" InfiniBand 0x8001 0x7fff
is "$(dry "$T/nd" -np 2 prog)" \
    "mpirun --mca pml ucx -x UCX_NET_DEVICES=mlx5_ib0:1,mlx5_ib1:1 -x UCX_IB_PKEY=0x0001 -np 2 prog" \
    "several devices: every active port, none that is down"

port "$T/down" mlx5_ib0 1 "1: DOWN" InfiniBand 0x800b 0x7fff
is "$(dry "$T/down" -np 2 prog)" "$TCP" "InfiniBand port down: TCP fallback"

port "$T/eth" mlx5_an0 1 "4: ACTIVE" Ethernet 0xffff
is "$(dry "$T/eth" -np 2 prog)" "$TCP" "Ethernet-only mlx5 device: TCP fallback"

port "$T/nokey" mlx5_ib0 1 "4: ACTIVE" InfiniBand 0x7fff 0xffff
is "$(dry "$T/nokey" -np 2 prog)" "mpirun --mca pml ucx -x UCX_NET_DEVICES=mlx5_ib0:1 -np 2 prog" \
    "only default partition keys: UCX without UCX_IB_PKEY"

is "$(dry "$T/hb" --mca pml ob1 -np 2 prog)" "mpirun --mca pml ob1 -np 2 prog" \
    "--mca pml given: nothing added"
is "$(dry "$T/none" -mca pml ucx -np 2 prog)" "mpirun -mca pml ucx -np 2 prog" \
    "-mca pml given: nothing added"
is "$(OMPI_MCA_pml=ucx dry "$T/hb" -np 2 prog)" "mpirun -np 2 prog" \
    "OMPI_MCA_pml set: nothing added"
is "$(MPIBATCH_NO_FABRIC_DETECT=1 dry "$T/hb" -np 2 prog)" "mpirun -np 2 prog" \
    "MPIBATCH_NO_FABRIC_DETECT=1: nothing added"
is "$(dry "$T/none" --mca btl tcp,self -np 2 prog)" "mpirun --mca pml ob1 --mca btl tcp,self -np 2 prog" \
    "btl list given: only the pml is added"
is "$(dry "$T/none" --mca btl_tcp_if_include eth0 -np 2 prog)" \
    "mpirun --mca pml ob1 --mca btl tcp,vader,self --mca btl_tcp_if_include eth0 -np 2 prog" \
    "a btl_* parameter is not a btl list"
is "$(dry "$T/none" -np 2 prog "a b" "it's" "")" "$TCP 'a b' 'it'\\''s' ''" \
    "the dry run quotes arguments for the shell"

# Signals, with a fake mpirun that reports what it got. A background job of
# a script ignores SIGINT unless told otherwise, hence env --default-signal.
mkdir -p "$T/bin"
cat > "$T/bin/mpirun" <<'EOF'
#!/bin/sh
echo "args $*" > "$FAKE_LOG"
trap 'echo USR1 >> "$FAKE_LOG"; exit 75' USR1
trap 'echo TERM >> "$FAKE_LOG"; exit 1' TERM INT HUP
echo started >> "$FAKE_LOG"
i=0
while [ $i -lt "${FAKE_TICKS:-100}" ]; do sleep 0.1; i=$((i + 1)); done
exit "${FAKE_EXIT:-0}"
EOF
chmod 755 "$T/bin/mpirun"
for sig in TERM INT HUP USR1 USR2; do
    FAKE_LOG=$T/fake.$sig PATH="$T/bin:$PATH" MPIBATCH_SYSFS=$T/none \
        env --default-signal=INT "$WRAP" -np 2 prog &
    pid=$!
    wait_for_log "$T/fake.$sig" started 10
    kill -"$sig" "$pid"
    wait "$pid"
    is $? 75 "SIG$sig to the wrapper: mpirun gets SIGUSR1, the wrapper exits 75"
    is "$(sed -n 2,3p "$T/fake.$sig" | paste -sd' ' -)" "started USR1" "SIG$sig: mpirun saw SIGUSR1 only"
done
contains "$T/fake.TERM" "^args --mca pml ob1 --mca btl tcp,vader,self -np 2 prog$" \
    "mpirun runs with the fabric settings and the caller's arguments"
FAKE_LOG=$T/fake.exit FAKE_EXIT=3 FAKE_TICKS=1 PATH="$T/bin:$PATH" "$WRAP" -np 1 prog
is $? 3 "without a signal the wrapper exits with mpirun's status"

# hostfile-from-vmss against a fake az: lines ending in CR, blank lines and
# a repeated address (two IP configurations of one NIC) as tsv may hold.
HF="$L/hostfile-from-vmss"
cat > "$T/az" <<'EOF'
#!/bin/sh
echo "$*" >> "$AZ_LOG"
case ${AZ_MODE:-ok} in
    ok) printf '10.1.0.4\r\n10.1.0.5\n\n10.1.0.7\n10.1.0.5\n' ;;
    empty) ;;
    json) echo '[ "10.1.0.4" ]' ;;
    fail) echo "ERROR: Please run 'az login' to setup account." >&2; exit 1 ;;
esac
EOF
chmod 755 "$T/az"
export AZ_LOG="$T/az.log"
"$HF" --help > "$T/h"; ok $? "hostfile-from-vmss --help exits 0"
contains "$T/h" "^Usage: hostfile-from-vmss -g RESOURCE_GROUP -n SCALE_SET" "--help shows the usage"
AZ=$T/az "$HF" -g rg -n ss -s 4 > "$T/hf"; ok $? "hostfile from a fake scale set"
printf '10.1.0.4 slots=4\n10.1.0.5 slots=4\n10.1.0.7 slots=4\n' > "$T/hf.want"
same_file "$T/hf" "$T/hf.want" "one line per instance address, in Azure's order, no repeats"
is "$(cat "$AZ_LOG")" \
    "vmss nic list -g rg --vmss-name ss --query [].ipConfigurations[].privateIPAddress -o tsv" \
    "it asks az for the private IP addresses of the scale set's NICs"
AZ=$T/az "$HF" --resource-group rg --name ss --output "$T/hf2" 2> "$T/e"
ok $? "--output writes a file"
is "$(sed -n 1p "$T/hf2")" "10.1.0.4 slots=$(getconf _NPROCESSORS_ONLN)" "slots default to this VM's cores"
AZ=$T/az "$HF" -g rg 2> "$T/e"; is $? 64 "missing scale set name: exit 64"
AZ=$T/az "$HF" -g rg -n ss -s 0 2> "$T/e"; is $? 64 "slots 0: exit 64"
AZ=$T/az "$HF" -g rg -n ss --bogus 2> "$T/e"; is $? 64 "unknown option: exit 64"
AZ=$T/az AZ_MODE=fail "$HF" -g rg -n ss 2> "$T/e"; is $? 69 "az failing: exit 69"
AZ=$T/az AZ_MODE=empty "$HF" -g rg -n ss 2> "$T/e"; is $? 69 "no instances: exit 69"
contains "$T/e" "has no instance" "no instances: said so"
AZ=$T/az AZ_MODE=json "$HF" -g rg -n ss > "$T/hf3" 2> "$T/e"; is $? 69 "output that is not addresses: exit 69"
AZ=$T/nonexistent "$HF" -g rg -n ss 2> "$T/e"; is $? 69 "no Azure CLI: exit 69"

if command -v shellcheck >/dev/null 2>&1; then
    shellcheck "$WRAP" "$HF"; ok $? "launch helpers are shellcheck clean"
    shellcheck -s sh -x tests/lib/netns.sh tests/mpi/90-two-hosts.t tests/mpi/91-launch.t
    ok $? "two-host test, its library and this test are shellcheck clean"
else
    ok 0 "# SKIP shellcheck not installed"
    ok 0 "# SKIP shellcheck not installed"
fi
done_testing
