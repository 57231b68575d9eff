#!/bin/sh
# make install and make uninstall, from the build under test: with PREFIX
# and with DESTDIR, exactly the binary, the launch helpers, the man page and
# the bash completion land there (no headers); the man page renders and
# documents, per command, every option that command's --help lists; the
# completion script loads in bash and completes commands, options and
# values; make uninstall leaves no file behind.
# -o keeps make from rebuilding the binary under test (an ASan build, say).
. tests/lib/tap.sh

BUILD_DIR=$MB_BUILD
mk() { make --no-print-directory -o "$BUILD_DIR/mpibatch" BUILD="$BUILD_DIR" "$@"; }

# files DIR: the files under DIR, relative, sorted.
files() { (cd "$1" && find . -type f | sed 's|^\./||' | sort); }

WANT="bin/hostfile-from-slurm
bin/hostfile-from-vmss
bin/mpibatch
bin/mpibatch-mpirun
share/bash-completion/completions/mpibatch
share/man/man1/mpibatch.1"

mk install PREFIX="$T/x" > "$T/install.log" 2>&1
ok $? "make install PREFIX=\$T/x"
sed 's/^/#   /' "$T/install.log" | tail -5
is "$(files "$T/x")" "$WANT" "it installs the binary, launch helpers, man page and completion"
[ ! -e "$T/x/include" ]
ok $? "no headers are installed (there is no library yet)"
[ -x "$T/x/bin/mpibatch" ] && [ -x "$T/x/bin/mpibatch-mpirun" ] && [ ! -x "$T/x/share/man/man1/mpibatch.1" ]
ok $? "programs are executable, the man page is not"
"$T/x/bin/mpibatch" --version > "$T/v" 2>&1
contains "$T/v" "^mpibatch [0-9]" "the installed mpibatch runs"

mk install PREFIX=/opt/mb DESTDIR="$T/d" > "$T/destdir.log" 2>&1
ok $? "make install PREFIX=/opt/mb DESTDIR=\$T/d"
is "$(files "$T/d/opt/mb")" "$WANT" "DESTDIR puts the same files under DESTDIR/PREFIX"
is "$(files "$T/d" | grep -vc '^opt/mb/')" 0 "nothing outside DESTDIR/PREFIX"

# The man page, rendered as a reader sees it.
page=$T/x/share/man/man1/mpibatch.1
if command -v man > /dev/null 2>&1; then
    MANWIDTH=200 man -l "$page" > "$T/man" 2> "$T/man.err"
else
    groff -man -Tutf8 -P-cbou -rLL=200n "$page" > "$T/man" 2> "$T/man.err"
fi
ok $? "the man page renders"
is "$(cat "$T/man.err")" "" "the formatter has no complaint"
for s in NAME SYNOPSIS DESCRIPTION "EXIT STATUS" ENVIRONMENT; do
    contains "$T/man" "^$s\$" "the man page has $s"
done
for v in MPIBATCH_QUEUE AZURE_STORAGE_CONNECTION_STRING AZURE_STORAGE_ACCOUNT \
    AZURE_STORAGE_KEY AZURE_STORAGE_SAS_TOKEN AZURE_CLIENT_ID; do
    contains "$T/man" "^ +$v\$" "ENVIRONMENT documents $v"
done
contains "$T/man" "^ +75 +stopped" "EXIT STATUS documents 75"

# section NAME: the lines of one section of the rendered page.
section() { awk -v h="$1" '/^[^ ]/ { on = ($0 == h) ; next } on' "$T/man"; }
for c in enqueue run results inspect queue status; do
    section "COMMAND: $c" > "$T/sec.$c"
    [ -s "$T/sec.$c" ]
    ok $? "the man page has a section for $c"
    "$MB" "$c" --help | grep -oE '^ {1,8}(-., )?--[a-z-]+' | sed 's/.*--/--/' |
        grep -vxE -- '--(verbose|quiet|help|log-format)' > "$T/opts.$c"
    missing=""
    while IFS= read -r o; do
        grep -qE -- "^ +$o( |\$)" "$T/sec.$c" || missing="$missing $o"
    done < "$T/opts.$c"
    is "$missing" "" "every option of '$c --help' ($(wc -l < "$T/opts.$c")) is in its section"
done
section "COMMON OPTIONS" > "$T/sec.common"
for o in --log-format --verbose --quiet --help; do
    contains "$T/sec.common" "^ +(-., )?$o( |\$)" "COMMON OPTIONS documents $o"
done
[ "$(wc -l < "$T/opts.run")" -ge 20 ]
ok $? "run has its 20-odd options (the check above is not vacuous)"
for o in --chunk-size --checkpoint-dir --max-dequeue --idle-exit --group-by; do
    contains "$T/sec.run" "^ +$o " "run's section documents $o"
done
contains "$T/sec.run" "Job file: \[run\] chunk_size" "run's section names job-file keys"
section "COMMON OPTIONS" > "$T/sec.common"
contains "$T/sec.common" "^ +-v, --verbose" "common options: -v, --verbose"
contains "$T/sec.common" "^ +-V, --version" "common options: -V, --version"

# The completion, loaded into bash as bash-completion would.
comp=$T/x/share/bash-completion/completions/mpibatch
# complete WORD...: what the completion offers for the last word.
complete_words() {
    bash -c '. "$1" || exit 1; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _mpibatch; echo "${COMPREPLY[*]}"' \
        sh "$comp" "$@" 2> "$T/comp.err"
}
bash -c '. "$1" && complete -p mpibatch' sh "$comp" > "$T/complete" 2>&1
contains "$T/complete" "-F _mpibatch mpibatch" "the completion script loads and registers for mpibatch"
is "$(complete_words mpibatch ru)" "run" "mpibatch ru<TAB> completes to run"
is "$(complete_words mpibatch "")" "enqueue run results inspect queue status" "mpibatch <TAB> offers every command"
is "$(complete_words mpibatch run --chun)" "--chunk-size" "run --chun<TAB> completes to --chunk-size"
is "$(complete_words mpibatch results --mer)" "--merge" "results --mer<TAB> completes to --merge"
is "$(complete_words mpibatch results --chun)" "" "an option of another command is not offered"
is "$(complete_words mpibatch queue p)" "peek purge" "queue p<TAB> offers peek and purge"
is "$(complete_words mpibatch results out --format j)" "json" "--format j<TAB> completes to json"
is "$(complete_words mpibatch run --queue dir:/q --message-encoding t)" "text" \
    "--message-encoding t<TAB> completes to text"
complete_words mpibatch run - | tr ' ' '\n' | grep -E -- '^--' | grep -vxE -- '--(verbose|quiet|help|log-format)' |
    sort > "$T/comp.run"
sort "$T/opts.run" > "$T/opts.run.sorted"
same_file "$T/comp.run" "$T/opts.run.sorted" "run -<TAB> offers exactly the options of run --help"
is "$(cat "$T/comp.err")" "" "the completion prints no error"

# Uninstall removes exactly what install put there.
mk uninstall PREFIX="$T/x" > "$T/uninstall.log" 2>&1
ok $? "make uninstall PREFIX=\$T/x"
is "$(files "$T/x")" "" "no file is left behind"
mk uninstall PREFIX=/opt/mb DESTDIR="$T/d" > "$T/uninstall2.log" 2>&1
ok $? "make uninstall PREFIX=/opt/mb DESTDIR=\$T/d"
is "$(files "$T/d")" "" "no file is left behind under DESTDIR"
mkdir -p "$T/y/bin" && echo keep > "$T/y/bin/other"
mk uninstall PREFIX="$T/y" > "$T/uninstall3.log" 2>&1
ok $? "make uninstall where nothing is installed succeeds"
is "$(files "$T/y")" "bin/other" "it leaves files it did not install"
done_testing
