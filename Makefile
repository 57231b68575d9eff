# mpibatch - build, set-up, demo, tests and benchmark.
#
#   make demo     install what is missing, build, run the example job
#   make check    the whole test suite (installs and starts what it needs)
#   make bench-ckpt  the cost of checkpoints (a benchmark, not part of check)
#   make soak     the long kill storm (SOAK_SECONDS, default 600)
#   make install PREFIX=/usr/local [DESTDIR=...]   (make uninstall: the same)
#   make check-portable  the unit tests without SSE2 (part of check)
#   make deb      a Debian package of HEAD (dist/debian), in build/deb

CC       ?= mpicc
ifeq ($(origin CC),default)
CC       := mpicc
endif
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
BUILD    ?= build
VERSION  := 0.1.0

# The project's own flags live in MB_* variables; CPPFLAGS, CFLAGS, LDFLAGS
# and LDLIBS belong to the user and are added after them, so that
# `make CFLAGS=-O3` changes the optimisation and nothing else. WERROR is
# for CI and development: deployments build with `WERROR=`, so that a
# newer compiler's new warning cannot stop a node from installing.
CFLAGS   ?= -O2 -g
WERROR   ?= -Werror
Q         = $(if $(filter 1,$(V)),,@)

# pkg-config runs once, when a recipe first needs the flags (so that
# `make deps` works before pkg-config is installed), and stops make with
# the names of the packages it cannot find (.SHELLSTATUS: GNU make >= 4.2).
PKGS     := hdf5-openmpi libcurl openssl expat jansson inih
pkg_missing = $(foreach p,$(PKGS),$(if $(shell pkg-config --exists $(p) && echo y),,$(p)))
pkg_none   = $(error pkg-config is not installed (make deps installs it))
pkg_fail   = $(error pkg-config $(1) failed; missing: $(or $(strip $(pkg_missing)),none) \
             (make deps installs them; PKG_CONFIG_PATH may need the MPI pkgconfig directory))
pkg_query  = $(strip $(if $(shell command -v pkg-config),,$(pkg_none)) \
             $(eval pkg_out := $(shell pkg-config $(1) $(PKGS))) \
             $(if $(filter-out 0,$(or $(.SHELLSTATUS),0)),$(call pkg_fail,$(1)),$(pkg_out)))
PKG_CFLAGS = $(eval PKG_CFLAGS := $(call pkg_query,--cflags))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(call pkg_query,--libs))$(PKG_LIBS)

WARN     := -Wall -Wextra -Wshadow -Wconversion -pedantic $(WERROR) -Wno-format-truncation
MB_CPPFLAGS = -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DMB_VERSION='"$(VERSION)"' \
              -Isrc $(PKG_CFLAGS)
MB_CFLAGS   = -std=c11 $(WARN) $(MB_CPPFLAGS)
MB_LDFLAGS  =
MB_LDLIBS   = $(PKG_LIBS) -lpg_query -lm

ifeq ($(SAN),1)
MB_CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
MB_LDFLAGS += -fsanitize=address,undefined
endif

COMPILE  = $(CC) $(MB_CFLAGS) $(CPPFLAGS) $(CFLAGS)
LINK     = $(CC) $(MB_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(MB_LDFLAGS) $(LDFLAGS)

SRCS     := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
OBJS     := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
TESTS    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
TOOLS    := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(wildcard tests/tools/*.c))
DEPFILES := $(OBJS:.o=.d) $(BUILD)/obj/cli/main.d

.PHONY: all unit-tests deps demo check check-asan check-portable bench bench-ckpt soak
.PHONY: install uninstall deb clean
.PHONY: fuzz fuzz-build fuzz-replay fuzz-clean

all: $(BUILD)/mpibatch $(BUILD)/mpibatch-gen $(BUILD)/mpibatch.1 $(BUILD)/mpibatch.bash $(TESTS) \
     $(TOOLS)

unit-tests: $(TESTS)

$(BUILD)/obj/%.o: src/%.c
	@echo "  CC      $<"
	@mkdir -p $(@D)
	$(Q)$(COMPILE) -MMD -MP -c $< -o $@

$(BUILD)/libmpibatch.a: $(OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/mpibatch: $(BUILD)/obj/cli/main.o $(BUILD)/libmpibatch.a
	@echo "  LINK    $@"
	$(Q)$(LINK) -o $@ $^ $(MB_LDLIBS) $(LDLIBS)

$(BUILD)/mpibatch-gen: jobs/gen.c | $(BUILD)/obj
	@echo "  CC      $@"
	$(Q)$(LINK) -o $@ $< $(LDLIBS)

# Test drivers (tests/tools): programs the shell tests run, not tests.
$(BUILD)/tests/%: tests/tools/%.c $(wildcard tests/tools/*.h) $(BUILD)/libmpibatch.a | $(BUILD)/tests
	@echo "  TOOL    $@"
	$(Q)$(LINK) -Itests/tools -o $@ $< $(BUILD)/libmpibatch.a $(MB_LDLIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libmpibatch.a | $(BUILD)/tests
	@echo "  TEST    $@"
	$(Q)$(LINK) -Itests/unit -o $@ $< $(BUILD)/libmpibatch.a $(MB_LDLIBS) $(LDLIBS)

# The man page and the bash completion come from the option table that
# --help prints (src/cli/cli.c), through two options --help does not list.
$(BUILD)/mpibatch.1: $(BUILD)/mpibatch
	@echo "  GEN     $@"
	$(Q)$(BUILD)/mpibatch --help-man > $@.tmp && mv $@.tmp $@

$(BUILD)/mpibatch.bash: $(BUILD)/mpibatch
	@echo "  GEN     $@"
	$(Q)$(BUILD)/mpibatch --help-completion > $@.tmp && mv $@.tmp $@

$(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

-include $(DEPFILES)

# Debian packages the project needs; installed only when missing.
DEB_PKGS := openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools \
            libcurl4-openssl-dev libssl-dev libexpat1-dev libjansson-dev \
            libinih-dev libpg-query-dev pkg-config make gcc python3 perl time procps \
            iproute2 shellcheck python3-yaml slurmctld slurmd slurm-client munge \
            node=nodejs npm=npm clang libclang-rt-14-dev \
            man-db groff-base

deps:
	@sh tests/lib/deps.sh $(DEB_PKGS)

demo: deps
	$(MAKE) all
	sh jobs/demo.sh

# The suite, then the same suite built with ASan+UBSan.
check: deps
	$(MAKE) all
	$(MAKE) check-portable
	$(MAKE) fuzz-replay
	sh tests/run.sh $(BUILD)
	$(MAKE) check-asan

# The unit tests against the portable CSV scanner (no SSE2), built apart.
check-portable: deps
	$(MAKE) BUILD=build-portable CFLAGS='$(CFLAGS) -U__SSE2__' unit-tests
	prove build-portable/tests/test_*

check-asan: deps
	$(MAKE) BUILD=build-asan SAN=1 all
	MB_SANITIZE=1 sh tests/run.sh build-asan

# mpibatch against DuckDB, Polars, pandas and datamash (not part of check).
bench: deps
	$(MAKE) all
	sh tests/bench/run.sh $(BUILD)

# The long kill storm (not part of check): SOAK_SECONDS of seeded SIGKILLs
# over SOAK_TASKS tasks and two consumers.
SOAK_SECONDS ?= 600
SOAK_TASKS   ?= 154
soak: deps
	$(MAKE) all
	MB_STORM_SECONDS=$(SOAK_SECONDS) MB_STORM_TASKS=$(SOAK_TASKS) \
	    sh tests/run.sh $(BUILD) tests/mpi/89-kill-storm.t

# Cost of checkpointing on a >= 1 GB input (not part of check).
bench-ckpt: deps
	$(MAKE) all
	sh tests/bench/ckpt.sh $(BUILD)

# ---- fuzzing: libFuzzer harnesses in tests/fuzz (see tests/fuzz/README.md) ----
# The sources are built again with clang, coverage and ASan+UBSan into
# $(FUZZ_BUILD), never into $(BUILD). `make fuzz` runs every harness for
# FUZZ_SECONDS; `make fuzz-replay` (part of check) replays the committed
# corpora, runs each harness for 3 s and ends with "N passed, N failed".
FUZZ_BUILD   ?= build-fuzz
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
FUZZ_CFLAGS   = -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
                -DMB_VERSION='"$(VERSION)"' $(filter-out -Wno-format-truncation,$(WARN)) \
                -Isrc $(PKG_CFLAGS) $(FUZZ_SAN)
FUZZ_LIBS     = $(PKG_LIBS) $(shell mpicc --showme:link 2>/dev/null) -lpg_query -lm
FUZZ_OBJS    := $(SRCS:src/%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZERS      := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard tests/fuzz/fuzz_*.c))

fuzz-build: $(FUZZERS)

$(FUZZ_BUILD)/obj/%.o: src/%.c | $(FUZZ_BUILD)/obj
	@echo "  FUZZCC  $<"
	@mkdir -p $(@D)
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libmpibatch.a: $(FUZZ_OBJS)
	@rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_BUILD)/libmpibatch.a
	@echo "  FUZZER  $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -D_GNU_SOURCE -Itests/fuzz -fsanitize=fuzzer -o $@ $< \
		$(FUZZ_BUILD)/libmpibatch.a $(FUZZ_LIBS)

# The build directory ignores itself, so that git never sees its outputs.
$(FUZZ_BUILD)/obj:
	mkdir -p $@
	echo '*' > $(FUZZ_BUILD)/.gitignore

-include $(FUZZ_OBJS:.o=.d)

fuzz: deps
	$(MAKE) fuzz-build
	sh tests/fuzz/run.sh long $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz-replay: deps
	$(MAKE) fuzz-build
	sh tests/fuzz/run.sh replay $(FUZZ_BUILD) 3

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

# Installs the program, the launch helpers, the man page and the bash
# completion; no headers and no library (there is none to link against).
# `make uninstall` (same PREFIX and DESTDIR) removes exactly these files.
LAUNCH    := mpibatch-mpirun hostfile-from-slurm hostfile-from-vmss
INSTALLED  = $(BINDIR)/mpibatch $(LAUNCH:%=$(BINDIR)/%) $(MANDIR)/man1/mpibatch.1 \
             $(BASHCOMPDIR)/mpibatch

install: $(BUILD)/mpibatch $(BUILD)/mpibatch.1 $(BUILD)/mpibatch.bash
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR)
	install -m 755 $(BUILD)/mpibatch $(DESTDIR)$(BINDIR)/mpibatch
	install -m 755 $(LAUNCH:%=hpc-templates/launch/%) $(DESTDIR)$(BINDIR)/
	install -m 644 $(BUILD)/mpibatch.1 $(DESTDIR)$(MANDIR)/man1/mpibatch.1
	install -m 644 $(BUILD)/mpibatch.bash $(DESTDIR)$(BASHCOMPDIR)/mpibatch

uninstall:
	rm -f $(INSTALLED:%=$(DESTDIR)%)

# A Debian package of the committed tree (HEAD), built apart in
# $(BUILD)/deb from dist/debian with dpkg-buildpackage (dpkg-dev and
# fakeroot; no debhelper). The changelog's version must be VERSION.
deb:
	@v=$$(dpkg-parsechangelog -l dist/debian/changelog -S Version) && \
	    [ "$$v" = "$(VERSION)" ] || { echo "deb: dist/debian/changelog has $$v, not $(VERSION)" >&2; exit 1; }
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/mpibatch-$(VERSION)
	git archive HEAD | tar -x -C $(BUILD)/deb/mpibatch-$(VERSION)
	cp -R dist/debian $(BUILD)/deb/mpibatch-$(VERSION)/debian
	cd $(BUILD)/deb/mpibatch-$(VERSION) && dpkg-buildpackage -b -us -uc
	@ls $(BUILD)/deb/*.deb

clean:
	rm -rf build build-asan build-portable
