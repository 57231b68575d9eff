# mpibatch - build, set-up, demo, tests and benchmark.
#
#   make demo     install what is missing, build, run the example job
#   make check    the whole test suite (installs and starts what it needs)
#   make bench-ckpt  the cost of checkpoints (a benchmark, not part of check)
#   make soak     the long kill storm (SOAK_SECONDS, default 600)
#   make install PREFIX=/usr/local

CC       ?= mpicc
ifeq ($(origin CC),default)
CC       := mpicc
endif
PREFIX   ?= /usr/local
BUILD    ?= build
VERSION  := 0.1.0

PKGS     := hdf5-openmpi libcurl openssl expat jansson inih
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Wshadow -Wconversion -pedantic -Werror -Wno-format-truncation
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
            -DMB_VERSION='"$(VERSION)"' $(WARN) -Isrc -Iinclude $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lm

ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

SRCS     := $(filter-out src/main.c,$(wildcard src/*.c))
OBJS     := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
TESTS    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
DEPFILES := $(OBJS:.o=.d) $(BUILD)/obj/main.d

.PHONY: all deps demo check check-asan bench bench-ckpt soak install clean
.PHONY: fuzz fuzz-build fuzz-replay fuzz-clean

all: $(BUILD)/mpibatch $(BUILD)/mpibatch-gen $(TESTS)

$(BUILD)/obj/%.o: src/%.c | $(BUILD)/obj
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libmpibatch.a: $(OBJS)
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/mpibatch: $(BUILD)/obj/main.o $(BUILD)/libmpibatch.a
	@echo "  LINK    $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/mpibatch-gen: jobs/gen.c | $(BUILD)/obj
	@echo "  CC      $@"
	@$(CC) $(CFLAGS) -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libmpibatch.a | $(BUILD)/tests
	@echo "  TEST    $@"
	@$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libmpibatch.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

-include $(DEPFILES)

# Debian packages the project needs; installed only when missing.
DEB_PKGS := openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools \
            libcurl4-openssl-dev libssl-dev libexpat1-dev libjansson-dev \
            libinih-dev pkg-config make gcc python3 perl time procps \
            iproute2 shellcheck python3-yaml slurmctld slurmd slurm-client munge \
            node=nodejs npm=npm clang libclang-rt-14-dev

deps:
	@sh tests/lib/deps.sh $(DEB_PKGS)

demo: deps
	$(MAKE) all
	sh jobs/demo.sh

# The suite, then the same suite built with ASan+UBSan.
check: deps
	$(MAKE) all
	$(MAKE) fuzz-replay
	sh tests/run.sh $(BUILD)
	$(MAKE) check-asan

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
                -Isrc -Iinclude $(PKG_CFLAGS) $(FUZZ_SAN)
FUZZ_LIBS     = $(PKG_LIBS) $(shell mpicc --showme:link 2>/dev/null) -lm
FUZZ_OBJS    := $(SRCS:src/%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZERS      := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard tests/fuzz/fuzz_*.c))

fuzz-build: $(FUZZERS)

$(FUZZ_BUILD)/obj/%.o: src/%.c | $(FUZZ_BUILD)/obj
	@echo "  FUZZCC  $<"
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

install: $(BUILD)/mpibatch
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/mpibatch
	install -m 755 $(BUILD)/mpibatch $(DESTDIR)$(PREFIX)/bin/mpibatch
	install -m 644 include/mpibatch/*.h $(DESTDIR)$(PREFIX)/include/mpibatch/

clean:
	rm -rf build build-asan
