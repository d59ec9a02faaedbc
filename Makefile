# kubectl-vault_ha — build, test, install.
#   make deps     install the Debian packages the build and tests need (no-op when present)
#   make          build ./kubectl-vault_ha
#   make check    deps + the fuzz targets built with clang + both builds + unit tests (plain and
#                 ASan/UBSan) + fuzz corpora replay +
#                 the fake's and end-to-end tests on the ASan/UBSan build + a valgrind subset
#   make demo     run the runbook against the built-in simulated cluster
#   make fuzz     FUZZ_SECONDS=N: every libFuzzer target in tests/fuzz for N seconds (clang);
#                 FUZZ_RUNS=N for N inputs each instead, FUZZ_JOBS=2 for two at a time
#   make valgrind the e2e subset in tests/valgrind-tests under valgrind memcheck
#   make install  PREFIX=/usr/local DESTDIR=

VERSION    := 0.1.0
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
PYTHON     := /usr/bin/python3

CC         ?= cc
PKGS       := libcurl jansson yaml-0.1 zlib libssl libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lreadline -lpthread
WARN       := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wstrict-prototypes
CFLAGS     ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -DVH_VERSION=\"$(VERSION)\" $(WARN) $(CFLAGS) \
              -Ilib $(PKG_CFLAGS)

# Debian packages: build, unit tests (cmocka), fake cluster and e2e tests (python3-*),
# interactive tests (tmux), memory checks (valgrind), fsync checks (strace).
DEB_PACKAGES := gcc make pkg-config libcurl4-openssl-dev libjansson-dev libyaml-dev \
                libreadline-dev zlib1g-dev libssl-dev libcmocka-dev openssl \
                python3-aiohttp python3-pytest python3-pytest-xdist python3-kubernetes \
                python3-cryptography \
                python3-yaml tmux valgrind strace

# libFuzzer needs clang and its runtime (Debian 12: libclang-rt-14-dev): `make fuzz`, and
# `make check`, which builds every fuzz target with them (fuzz-build).
FUZZ_DEB_PACKAGES := clang libclang-rt-14-dev

LIB_SRC    := $(sort $(wildcard lib/*.c))
PLUGIN_SRC := $(sort $(wildcard plugin/*.c))
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))

# Two build trees: the normal one and an ASan+UBSan one. make check runs the unit tests on
# both, the e2e suite once on the ASan build (and its few memory measurements on the normal one).
B          := build/release
A          := build/asan
SAN_FLAGS  := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=undefined

.PHONY: all deps check unit e2e check-asan demo install uninstall clean format bench dist \
        fuzz fuzz-build fuzz-deps fuzz-replay valgrind install-debs

all: kubectl-vault_ha

deps:
	@$(MAKE) --no-print-directory install-debs PACKAGES="$(DEB_PACKAGES)"

# The build's packages first: the fuzz targets link lib/ (and apt-get runs one at a time).
fuzz-deps: deps
	@$(MAKE) --no-print-directory install-debs PACKAGES="$(FUZZ_DEB_PACKAGES)"

install-debs:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# --- object files -----------------------------------------------------------------------------
$(B)/%.o: %.c $(wildcard lib/*.h plugin/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iplugin -c $< -o $@

$(A)/%.o: %.c $(wildcard lib/*.h plugin/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -Iplugin -c $< -o $@

$(B)/libvaultha.a: $(LIB_SRC:%.c=$(B)/%.o)
	rm -f $@ && ar rcs $@ $^
$(A)/libvaultha.a: $(LIB_SRC:%.c=$(A)/%.o)
	rm -f $@ && ar rcs $@ $^

kubectl-vault_ha: $(PLUGIN_SRC:%.c=$(B)/%.o) $(B)/libvaultha.a
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

$(A)/kubectl-vault_ha: $(PLUGIN_SRC:%.c=$(A)/%.o) $(A)/libvaultha.a
	$(CC) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS)

# --- unit tests (cmocka): one binary per lib module -------------------------------------------
UNIT_BIN      := $(UNIT_SRC:tests/unit/%.c=$(B)/unit/%)
UNIT_BIN_ASAN := $(UNIT_SRC:tests/unit/%.c=$(A)/unit/%)

$(B)/unit/%: tests/unit/%.c $(B)/libvaultha.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libvaultha.a $(PKG_LIBS) -lcmocka

$(A)/unit/%: tests/unit/%.c $(A)/libvaultha.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -o $@ $< $(A)/libvaultha.a $(PKG_LIBS) -lcmocka

unit: $(UNIT_BIN)
	@tests/run-unit $(UNIT_BIN)

# The e2e tests mostly wait (elections, autopilot, processes): run them 12 at a time (8 left
# a quarter of 2 cores idle; 12 finished the suite 5% sooner).
PYTEST_WORKERS ?= 12
PYTEST := $(PYTHON) -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) --durations=10
JOBS   := $(shell nproc 2>/dev/null || echo 2)

e2e: kubectl-vault_ha
	VH_BIN=$(CURDIR)/kubectl-vault_ha $(PYTEST) tests/fake tests/e2e

# --- fuzzing ------------------------------------------------------------------------------------
# tests/fuzz/fuzz_<target>.c, one per parser of untrusted bytes. `make fuzz` builds each with
# clang's libFuzzer (lib/ instrumented too) and runs it FUZZ_SECONDS, on a copy of its seed corpus
# in build/fuzz/corpus/<target>; crashes land in build/fuzz/crashes/<target>. `make fuzz-replay`
# (part of make check) builds the same targets with gcc under ASan/UBSan and a plain main()
# (tests/fuzz/replay.c) and feeds them every checked-in corpus and crash file once.
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_SECONDS ?= 60
FZ           := build/fuzz
FUZZ_CC      := clang
FUZZ_FLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined

$(FZ)/%.o: %.c $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(ALL_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FZ)/libvaultha.a: $(LIB_SRC:%.c=$(FZ)/%.o)
	rm -f $@ && ar rcs $@ $^
$(FZ)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FZ)/libvaultha.a
	$(FUZZ_CC) $(ALL_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -Itests/fuzz -o $@ $< \
	  $(FZ)/libvaultha.a $(PKG_LIBS)

# Every target built with clang and libFuzzer. make check depends on it: gcc accepts what clang
# refuses under -Wformat=2 -Werror (a vprintf wrapper without its format attribute), and such a
# break went unseen until someone ran make fuzz.
fuzz-build: fuzz-deps
	$(MAKE) -j$(JOBS) $(FUZZ_TARGETS:%=$(FZ)/fuzz_%)

fuzz: fuzz-build
	tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_TARGETS)

$(A)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(A)/libvaultha.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -Itests/fuzz -o $@ $< tests/fuzz/replay.c \
	  $(A)/libvaultha.a $(PKG_LIBS)

fuzz-replay: $(FUZZ_TARGETS:%=$(A)/fuzz/replay_%)
	@for t in $(FUZZ_TARGETS); do \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    $(A)/fuzz/replay_$$t tests/fuzz/corpus/$$t tests/fuzz/crashes/$$t || exit 1; \
	done

# The whole e2e suite (and the fake's own tests) once, on the ASan/UBSan build; the tests that
# measure what a sanitizer changes (mlock, peak RSS) run the plain build (VH_RELEASE_BIN).
check-asan: $(A)/kubectl-vault_ha $(UNIT_BIN_ASAN) kubectl-vault_ha
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 tests/run-unit $(UNIT_BIN_ASAN)
	$(MAKE) fuzz-replay
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  VH_BIN=$(CURDIR)/$(A)/kubectl-vault_ha VH_RELEASE_BIN=$(CURDIR)/kubectl-vault_ha \
	  $(PYTEST) tests/fake tests/e2e

# The e2e tests listed in tests/valgrind/tests with the plugin under valgrind memcheck
# (tests/valgrind/vh-valgrind): no invalid access, no leak definitely lost. 3 at a time: a
# TLS handshake under valgrind costs seconds of CPU, and 6 at once on 2 cores starve.
VALGRIND_LOGS := build/valgrind
valgrind: kubectl-vault_ha
	@rm -rf $(VALGRIND_LOGS) && mkdir -p $(VALGRIND_LOGS)
	VH_BIN=$(CURDIR)/tests/valgrind/vh-valgrind VH_VALGRIND_BIN=$(CURDIR)/kubectl-vault_ha \
	  VH_SLOWDOWN=10 \
	  VH_VALGRIND_LOGS=$(CURDIR)/$(VALGRIND_LOGS) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider -n 3 --durations=5 \
	  $$(grep -v '^#' tests/valgrind/tests) || \
	  { grep -l 'ERROR SUMMARY: [1-9]' $(VALGRIND_LOGS)/*.log | head -5 | xargs -r cat; exit 1; }

# The clang build of the fuzz targets runs beside the e2e suite, its output kept apart (-O):
# the suite leaves some CPU idle while its tests wait for elections and restarts.
check: deps fuzz-deps
	$(MAKE) -j$(JOBS) all $(UNIT_BIN) $(A)/kubectl-vault_ha $(UNIT_BIN_ASAN) \
	  $(FUZZ_TARGETS:%=$(A)/fuzz/replay_%)
	$(MAKE) unit
	$(MAKE) -j2 -O check-asan fuzz-build
	$(MAKE) valgrind

demo: deps all
	@tests/demo

bench: deps all
	@tests/bench/run

# The man page is written by the binary from its command table.
MAN := build/kubectl-vault_ha.1
$(MAN): kubectl-vault_ha
	@mkdir -p build
	./kubectl-vault_ha __man > $@

BASHDIR := $(PREFIX)/share/bash-completion/completions
ZSHDIR  := $(PREFIX)/share/zsh/site-functions
FISHDIR := $(PREFIX)/share/fish/vendor_completions.d

install: kubectl-vault_ha $(MAN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHDIR) \
	  $(DESTDIR)$(ZSHDIR) $(DESTDIR)$(FISHDIR)
	install -m 0755 kubectl-vault_ha $(DESTDIR)$(BINDIR)/kubectl-vault_ha
	install -m 0755 completions/kubectl_complete-vault_ha $(DESTDIR)$(BINDIR)/kubectl_complete-vault_ha
	install -m 0644 $(MAN) $(DESTDIR)$(MANDIR)/man1/kubectl-vault_ha.1
	install -m 0644 completions/kubectl-vault_ha.bash $(DESTDIR)$(BASHDIR)/kubectl-vault_ha
	install -m 0644 completions/_kubectl-vault_ha $(DESTDIR)$(ZSHDIR)/_kubectl-vault_ha
	install -m 0644 completions/kubectl-vault_ha.fish $(DESTDIR)$(FISHDIR)/kubectl-vault_ha.fish

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/kubectl-vault_ha $(DESTDIR)$(BINDIR)/kubectl_complete-vault_ha \
	  $(DESTDIR)$(MANDIR)/man1/kubectl-vault_ha.1 $(DESTDIR)$(BASHDIR)/kubectl-vault_ha \
	  $(DESTDIR)$(ZSHDIR)/_kubectl-vault_ha $(DESTDIR)$(FISHDIR)/kubectl-vault_ha.fish

# Release archive for krew: jansson and libyaml linked statically, so the binary needs only
# libraries every distribution has (libc, libcurl, OpenSSL, zlib, readline).
D        := build/dist
ARCHIVE  := dist/kubectl-vault_ha-$(VERSION)-linux-amd64.tar.gz
DIST_URI ?= https://github.com/kubectl-vault-ha/kubectl-vault_ha/releases/download/v$(VERSION)/kubectl-vault_ha-$(VERSION)-linux-amd64.tar.gz
STATIC_LIBS := -Wl,-Bstatic -ljansson -lyaml -Wl,-Bdynamic \
               $(shell pkg-config --libs libcurl zlib libssl libcrypto) -lreadline -lpthread

$(D)/kubectl-vault_ha: $(PLUGIN_SRC:%.c=$(B)/%.o) $(B)/libvaultha.a
	@mkdir -p $(D)
	$(CC) $(CFLAGS) -o $@ $^ $(STATIC_LIBS)

dist: $(D)/kubectl-vault_ha
	rm -rf $(D)/stage && mkdir -p $(D)/stage dist
	install -m 0755 $(D)/kubectl-vault_ha $(D)/stage/kubectl-vault_ha
	install -m 0644 LICENSE $(D)/stage/LICENSE
	tar --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -C $(D)/stage \
	  -czf $(ARCHIVE) kubectl-vault_ha LICENSE
	sha=$$(sha256sum $(ARCHIVE) | cut -d' ' -f1); \
	sed -e "s|@VERSION@|v$(VERSION)|" -e "s|@SHA256@|$$sha|" -e "s|@URI@|$(DIST_URI)|" \
	  krew/vault-ha.yaml > dist/vault-ha.yaml
	@echo "wrote $(ARCHIVE) and dist/vault-ha.yaml"

format:
	clang-format -i $(LIB_SRC) $(PLUGIN_SRC) $(UNIT_SRC) lib/*.h plugin/*.h tests/fuzz/*.[ch]

clean:
	rm -rf build kubectl-vault_ha dist
