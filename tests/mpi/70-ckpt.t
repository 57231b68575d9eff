#!/bin/sh
# Collective HDF5 checkpoints (ckpt.c) under mpirun: the unit test on 1, 2
# and 3 ranks; a checkpoint written by 3 ranks loaded by a plain process;
# a write killed before its valid flags or before its rename never counts;
# every single-byte flip of a real checkpoint is refused or harmless. Does
# not run mpibatch itself (the run loop's restarts are tested elsewhere).
. tests/lib/tap.sh

TC="$MB_BUILD/tests/test_ckpt"
name() { printf '%s/ckpt-%020d.h5' "$1" "$2"; }

for np in 1 2 3; do
    MB_CKPT_TESTDIR="$T/unit$np" $MPIRUN -x MB_CKPT_TESTDIR -np $np "$TC" \
        > "$T/unit$np.tap" 2> "$T/unit$np.err"
    r=$?
    mkdir -p "$T/unit$np"
    fails=$(grep -c '^not ok' "$T/unit$np.tap")
    plan=$(sed -n 's/^1\.\.//p' "$T/unit$np.tap")
    [ "$r" -eq 0 ] && [ "$fails" -eq 0 ] && [ -n "$plan" ]
    ok $? "np=$np: test_ckpt passes ($plan tests, exit $r)"
    [ "$r" -eq 0 ] || sed 's/^/#   /' "$T/unit$np.tap" "$T/unit$np.err" | grep -v '^#   ok' | head -30
done

# Written by 3 ranks, resumed by a plain process (one rank).
$MPIRUN -np 3 "$TC" write "$T/x" 4 2>"$T/x.err"
ok $? "3 ranks write checkpoint 4"
$MPIRUN -np 3 "$TC" write "$T/x" 5 2>>"$T/x.err"
ok $? "3 ranks write checkpoint 5"
"$TC" read "$T/x" 5 3 2>"$T/xr.err"
ok $? "a plain process loads the 3-rank checkpoint: states in rank order, all chunks"
$MPIRUN -np 2 "$TC" read "$T/x" 5 3 2>>"$T/xr.err"
ok $? "so does rank 0 of a 2-rank job"

# Killed after the data, before any valid flag: the temporary never
# becomes a checkpoint; even renamed by hand it is refused.
MPIBATCH_FAULT=ckpt-before-valid $MPIRUN -x MPIBATCH_FAULT -np 2 "$TC" write "$T/x" 6 \
    >/dev/null 2>&1
r=$?
[ "$r" -ne 0 ]; ok $? "a write killed before its valid flags fails (exit $r)"
[ ! -e "$(name "$T/x" 6)" ]; ok $? "and publishes nothing"
tmp=$(find "$T/x" -maxdepth 1 -name '.ckpt-*6.h5.tmp' -exec basename {} \;)
[ -n "$tmp" ]; ok $? "it leaves its temporary behind ($tmp)"
"$TC" read "$T/x" 5 3 2>"$T/k.err"
ok $? "load ignores the temporary and gives checkpoint 5"
[ -n "$tmp" ] && mv "$T/x/$tmp" "$(name "$T/x" 6)"
"$TC" read "$T/x" 5 3 2>"$T/k.err"
ok $? "the half-written file renamed as checkpoint 6: load falls back to 5"
contains "$T/k.err" "ckpt-0+6\.h5 is damaged \(part 0 of 2 is not marked valid" \
    "with a warning naming checkpoint 6 and its unset valid flags"
rm -f "$(name "$T/x" 6)"

# Killed after close, before the rename: same; the next write of that
# sequence replaces the stale temporary.
MPIBATCH_FAULT=ckpt-before-publish $MPIRUN -x MPIBATCH_FAULT -np 3 "$TC" write "$T/x" 7 \
    >/dev/null 2>&1
r=$?
[ "$r" -ne 0 ] && [ ! -e "$(name "$T/x" 7)" ]
ok $? "a write killed before its rename fails and publishes nothing (exit $r)"
"$TC" read "$T/x" 5 3 2>/dev/null
ok $? "checkpoint 5 is still the newest valid one"
$MPIRUN -np 3 "$TC" write "$T/x" 7 2>/dev/null && "$TC" read "$T/x" 7 3 2>/dev/null
ok $? "rewriting checkpoint 7 succeeds over the stale temporary"
n=$(find "$T/x" -maxdepth 1 -name '*ckpt-*' | wc -l)
is "$n" 2 "two checkpoints kept, no temporaries"

# Every byte of a real 3-rank checkpoint flipped in turn.
mkdir -p "$T/flip"
"$TC" flipall "$(name "$T/x" 7)" "$T/flip" > "$T/flip.out" 2>&1
ok $? "every single-byte flip is refused or harmless: $(tail -1 "$T/flip.out")"
done_testing
