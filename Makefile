# popgate — POP3 gateway to IMAP with per-device state.
#
#   make            build build/popgate
#   make deps       install missing Debian packages (apt-get; root or sudo)
#   make run        build and run in the foreground with conf/popgate.conf
#   make setup ADDRESS=you@example.com   find the provider, check the login,
#                   write it into conf/popgate.conf, print client settings
#   make check      build, unit tests, fuzz smoke, end-to-end tests
#   make asan       the same binary and tests with ASan+UBSan (or SANITIZE=1)
#   make fuzz       run every libFuzzer harness for FUZZ_SECS seconds, JOBS
#                   at a time (clang)
#   make bench      benchmark against native Dovecot POP3 (ratios)
#   make bench-gateways  three gateways behind HAProxy against one (ratios)
#   make bench-sentinel  three gateways on a Sentinel-managed Redis, with a failover
#   make bench-sessions  10,000 concurrent logged-in sessions: errors, memory per session
#                   (SESSIONS=10000 [MESSAGES=1000]: that phase only; GATEWAYS=2: two
#                   popgates on one port with reuse_port, one redis-server)
#   make demo       private Dovecot + popgate, two devices scripted; demo-stop
#   make install    PREFIX (/usr/local), DESTDIR; never overwrites the config
#   make deb        Debian package in build/deb/ (dpkg-buildpackage, lintian)
#   make man        render both man pages, failing on warnings

CC       ?= gcc
PKGS     := libevent libevent_openssl openssl hiredis inih libcurl jansson
# The Debian package that provides each pkg-config module, for the error.
PKG_DEB_libevent := libevent-dev
PKG_DEB_libevent_openssl := libevent-dev
PKG_DEB_openssl := libssl-dev
PKG_DEB_hiredis := libhiredis-dev
PKG_DEB_inih := libinih-dev
PKG_DEB_libcurl := libcurl4-openssl-dev
PKG_DEB_jansson := libjansson-dev
PKG_DEB_check := check
BUILD    ?= build
SANITIZE ?=
FUZZ_SECS ?= 60
PREFIX   ?= /usr/local

# Debian packages needed to build, test and benchmark.
DEB_BUILD := gcc make pkg-config libssl-dev libevent-dev libhiredis-dev \
	     libinih-dev libcurl4-openssl-dev libjansson-dev check
DEB_TEST  := dovecot-imapd dovecot-pop3d redis-server redis-sentinel haproxy curl fetchmail \
	     mpop getmail6 dnsmasq-base \
	     python3 openssl procps clang libclang-rt-14-dev chromium chromium-driver \
	     python3-selenium

# The project's own flags; CFLAGS, CPPFLAGS and LDFLAGS given on the
# command line (make CFLAGS=-O0) add to them instead of replacing them.
WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wformat=2 \
	    -Wmissing-prototypes -Wstrict-prototypes -Wno-unused-parameter
PG_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE
PG_LDFLAGS :=
ifeq ($(SANITIZE),1)
CFLAGS   ?= -O1 -g
BUILD    := build-asan
PG_CFLAGS += -fno-omit-frame-pointer -fsanitize=address,undefined \
	    -fno-sanitize-recover=undefined
PG_LDFLAGS += -fsanitize=address,undefined
endif
CFLAGS   ?= -O2 -g

# Layers, lowest first. Each folder sees only its own headers and those of
# the layers it may use; tests/layers.sh checks the finer rules (pure
# modules, cache/ without daemon headers, private headers) as part of the
# build.
INC_core  := -iquote proxy/core
INC_conf  := -iquote conf $(INC_core)
INC_cache := -iquote cache $(INC_core)
INC_imap  := -iquote proxy/imap $(INC_core)
INC_oauth := -iquote proxy/oauth $(INC_conf) -iquote cache
INC_pop3  := -iquote proxy/pop3 -iquote proxy/oauth -iquote proxy/imap $(INC_conf) -iquote cache
INC_top   := -iquote proxy -iquote proxy/tools $(INC_pop3)
INC_tests := -iquote tests/unit -iquote proxy/oauth $(INC_top)
# The include path of a source file, from its folder.
inc_of = $(INC_$(or $(filter core imap pop3 oauth,$(word 2,$(subst /, ,$(1)))),$(if $(filter proxy,$(word 1,$(subst /, ,$(1)))),top,$(word 1,$(subst /, ,$(1))))))

# libcurl is not linked: only its headers are used, and proxy/oauth/oauth_curl.c
# dlopen()s it when OAuth2 is configured (its dependencies cost RSS).
PKGS_LINKED := $(filter-out libcurl,$(PKGS))
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS_LINKED))
CHECK_LIBS = $(shell pkg-config --libs check)

# Every .c under proxy/ conf/ cache/ goes into one static library; main.c
# is the only file kept out so unit tests can link the library.
SRC      := $(wildcard proxy/*.c proxy/*/*.c conf/*.c cache/*.c)
LIB_SRC  := $(filter-out proxy/main.c,$(SRC))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libpopgate.a
BIN      := $(BUILD)/popgate
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
# Pure modules (libc only, no I/O) say "Pure: libc only" in their header's
# (or their own) first comment; they are what a fuzz harness may link.
PURE_SRC := $(shell for c in $(LIB_SRC); do \
	grep -qs 'Pure: libc only' $$c $${c%.c}.h && echo $$c; done)
ALL_H    := $(wildcard proxy/*.h proxy/*/*.h conf/*.h cache/*.h)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build-fuzz/obj/%.o)
PURE_FUZZ_OBJ := $(PURE_SRC:%.c=build-fuzz/obj/%.o)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
# Jobs at once: the harnesses make fuzz runs (each one process, one core),
# and the build of make check and make check-quick.
JOBS ?= 2
LAYERS_OK := $(BUILD)/layers.ok

.PHONY: all deps run setup check check-quick unit e2e model-long fuzz fuzz-smoke asan bench bench-gateways bench-sentinel bench-sessions clean \
	install pkgcheck layers

all: $(BIN)

# A missing library is named, with the package that provides it.
pkgcheck:
	@missing=""; for p in $(PKGS) check; do \
	    pkg-config --exists $$p 2>/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "popgate: pkg-config cannot find:$$missing" >&2; \
	    echo "popgate: install them with 'make deps' (Debian packages:" \
		$$(for p in $$missing; do case $$p in \
		    libevent*) echo libevent-dev;; openssl) echo libssl-dev;; \
		    hiredis) echo libhiredis-dev;; inih) echo libinih-dev;; \
		    libcurl) echo libcurl4-openssl-dev;; jansson) echo libjansson-dev;; \
		    check) echo check;; esac; done | sort -u) ")" >&2; \
	    exit 1; fi

$(LAYERS_OK): tests/layers.sh $(SRC) $(ALL_H)
	@mkdir -p $(dir $@)
	@tests/layers.sh
	@touch $@

layers:
	@tests/layers.sh

$(BUILD)/obj/%.o: %.c | pkgcheck
	@mkdir -p $(dir $@)
	$(CC) $(PG_CFLAGS) $(call inc_of,$<) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJ) $(LAYERS_OK)
	@rm -f $@
	ar rcs $@ $(LIB_OBJ)

# The provider table is data the assembler copies in (.incbin).
$(BUILD)/obj/proxy/tools/providers_data.o build-fuzz/obj/proxy/tools/providers_data.o: \
	conf/providers.conf

$(BIN): $(BUILD)/obj/proxy/main.o $(LIB)
	$(CC) $(PG_LDFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB) | pkgcheck
	@mkdir -p $(dir $@) $(BUILD)/deps
	$(CC) $(PG_CFLAGS) $(INC_tests) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -MF $(BUILD)/deps/$*.d \
	    $(PG_LDFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(CHECK_LIBS) $(PKG_LIBS)

# A harness of pure modules links their objects of build-fuzz/obj/ (built
# once for all harnesses, below), not their sources compiled again.
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(PURE_FUZZ_OBJ) $(ALL_H)
	@mkdir -p $(dir $@)
	clang -std=gnu11 -g -O1 -D_GNU_SOURCE $(INC_tests) \
	    -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(PURE_FUZZ_OBJ)

# The harnesses of FUZZ_WHOLE drive real non-pure modules (fuzz_pop3_session
# a whole session: libevent, hiredis, OpenSSL, inih, a redis-server;
# fuzz_cache_replies the cache against a scripted Redis; fuzz_oauth_json
# jansson and the sealed records), so they link the
# whole library, built again by clang with ASan+UBSan and fuzzer coverage
# in build-fuzz/obj/. A static pattern rule: it takes precedence over the
# pattern rule above (pure modules only).
FUZZ_WHOLE := fuzz_pop3_session fuzz_cache_replies fuzz_oauth_json

build-fuzz/obj/%.o: %.c | pkgcheck
	@mkdir -p $(dir $@)
	clang -std=gnu11 -g -O1 -D_GNU_SOURCE $(call inc_of,$<) $(PKG_CFLAGS) \
	    -fsanitize=fuzzer-no-link $(FUZZ_SAN) -MMD -MP -c -o $@ $<

build-fuzz/libpopgate.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $(FUZZ_LIB_OBJ)

$(FUZZ_WHOLE:%=build-fuzz/%): build-fuzz/%: tests/fuzz/%.c build-fuzz/libpopgate.a | pkgcheck
	@mkdir -p $(dir $@)
	clang -std=gnu11 -g -O1 -D_GNU_SOURCE $(INC_tests) $(PKG_CFLAGS) \
	    -fsanitize=fuzzer $(FUZZ_SAN) -MMD -MP -MF build-fuzz/$*.d \
	    -o $@ $< build-fuzz/libpopgate.a $(PKG_LIBS)

-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_WHOLE:%=build-fuzz/%.d)

deps:
	@tests/deps.sh $(DEB_BUILD) $(DEB_TEST)

unit: $(UNIT_BIN)
	@tests/run-unit.sh $(UNIT_BIN)

# The end-to-end suite alone, against $(BIN); E2E_ARGS picks tests
# (e.g. make e2e E2E_ARGS="-k TestRetr").
e2e: $(BIN)
	@python3 tests/e2e/run.py --binary $(BIN) $(E2E_ARGS)

# The randomized multi-device model (tests/e2e/test_profiles.py
# ProfileModel) as a longer campaign: MODEL_SEEDS runs of MODEL_STEPS
# steps per test, more mailbox renumberings, each run's figures printed.
# Its deadline grows with the campaign: a second per step over the four
# tests (a step takes about 0.12 s each), not the suite's 900 s.
MODEL_SEEDS ?= 12
MODEL_STEPS ?= 250
model-long: $(BIN)
	@POPGATE_MODEL_SEEDS=$(MODEL_SEEDS) POPGATE_MODEL_STEPS=$(MODEL_STEPS) \
	    POPGATE_MODEL_RECREATE=0.04 POPGATE_MODEL_VERBOSE=1 \
	    python3 tests/e2e/run.py --binary $(BIN) -k ProfileModel \
	    --deadline $$(( 300 + $(MODEL_SEEDS) * $(MODEL_STEPS) ))

# Every harness for FUZZ_SECS, JOBS at a time; each says ok or FAILED
# (its log in build-fuzz/), and any failure fails the target.
fuzz: $(FUZZ_BIN)
	@printf '%s\n' $(FUZZ_BIN) | xargs -P $(JOBS) -I{} sh -c \
	    'n=$$(basename {}); mkdir -p build-fuzz/corpus/$$n; \
	    {} -max_total_time=$(FUZZ_SECS) build-fuzz/corpus/$$n tests/fuzz/seeds/$$n \
		>build-fuzz/$$n.log 2>&1 && echo "$$n: ok" || { echo "$$n: FAILED (build-fuzz/$$n.log)"; exit 1; }'

# Short fuzz run inside make check (the harnesses built JOBS at a time).
fuzz-smoke:
	@$(MAKE) --no-print-directory -j$(JOBS) fuzz FUZZ_SECS=$${FUZZ_SMOKE_SECS:-5}

check: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all $(UNIT_BIN)
	@tests/check.sh

# For development: build, unit and end-to-end tests; no fuzzing, no
# packaging.
check-quick:
	@$(MAKE) --no-print-directory -j$(JOBS) all $(UNIT_BIN)
	@CHECK_PARTS="unit e2e" tests/check.sh

# The same binary and tests (unit and end-to-end) with ASan+UBSan.
asan:
	@$(MAKE) --no-print-directory SANITIZE=1 all $(UNIT_BIN:$(BUILD)/%=build-asan/%)
	@BUILD=build-asan CHECK_PARTS="unit e2e" POPGATE_SANITIZED=1 tests/check.sh

run: deps $(BIN)
	$(BIN) -c conf/popgate.conf

# make setup ADDRESS=you@example.com: popgate setup with the sample config.
setup: $(BIN)
	@if [ -z "$(ADDRESS)" ]; then echo "usage: make setup ADDRESS=you@example.com" >&2; exit 2; fi
	$(BIN) setup $(ADDRESS) -c conf/popgate.conf

bench: deps $(BIN)
	@tests/bench/bench.sh

bench-gateways: deps $(BIN)
	@python3 tests/bench/bench_gateways.py --binary $(BIN)

bench-sentinel: deps $(BIN)
	@python3 tests/bench/bench_sentinel.py --binary $(BIN)

bench-sessions: deps $(BIN)
	@python3 tests/bench/bench_sessions.py --binary $(BIN) \
		$(if $(SESSIONS),--phase $(or $(MESSAGES),1000):$(SESSIONS)) \
		$(if $(GATEWAYS),--gateways $(GATEWAYS))

# --- install, Debian package, demo, man pages (packaging/, tests/demo/) ---
# The configuration lives in /etc whatever PREFIX (the daemon's default is
# /etc/popgate/popgate.conf). The systemd unit goes where systemd and the
# distribution look: with PREFIX=/usr (the Debian package) systemd.pc's
# systemdsystemunitdir, /lib/systemd/system on Debian 12; otherwise
# $(PREFIX)/lib/systemd/system, systemd's place for units the administrator
# installs (/usr/local/lib/systemd/system by default), out of dpkg's trees.
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
SYSTEMDUNITDIR ?= $(if $(filter /usr,$(PREFIX)),$(or $(shell pkg-config \
	--variable=systemdsystemunitdir systemd 2>/dev/null),/lib/systemd/system),$(PREFIX)/lib/systemd/system)
MAN_PAGES  := packaging/popgate.8 packaging/popgate.conf.5
# Debian packages make deb needs besides DEB_BUILD; make demo needs these.
DEB_PKG    := debhelper dpkg-dev fakeroot lintian
DEB_DEMO   := dovecot-imapd redis-server python3 procps
DEMO_IMAP_PORT ?= 31143
DEMO_POP3_PORT ?= 31110

.PHONY: deb demo demo-stop man

install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/popgate
	install -D -m 0644 packaging/popgate.8 $(DESTDIR)$(MANDIR)/man8/popgate.8
	install -D -m 0644 packaging/popgate.conf.5 $(DESTDIR)$(MANDIR)/man5/popgate.conf.5
	@mkdir -p $(DESTDIR)$(SYSTEMDUNITDIR)
	sed -e 's|/usr/sbin/popgate|$(SBINDIR)/popgate|g' \
	    -e 's|/etc/popgate/|$(SYSCONFDIR)/popgate/|g' \
	    packaging/popgate.service >$(DESTDIR)$(SYSTEMDUNITDIR)/popgate.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/popgate.service
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/popgate/popgate.conf ]; then \
	    echo "kept the existing $(DESTDIR)$(SYSCONFDIR)/popgate/popgate.conf (sample: conf/popgate.conf)"; \
	else \
	    echo "install -D -m 0644 conf/popgate.conf $(DESTDIR)$(SYSCONFDIR)/popgate/popgate.conf"; \
	    install -D -m 0644 conf/popgate.conf $(DESTDIR)$(SYSCONFDIR)/popgate/popgate.conf; \
	fi

# build/deb/popgate_<version>_<arch>.deb with dpkg-buildpackage, from a copy
# of the tree with packaging/debian as debian/; lintian must find no error.
deb:
	@tests/deps.sh $(DEB_BUILD) $(DEB_PKG)
	@packaging/build-deb.sh

# A private Dovecot and popgate on 127.0.0.1 with a scripted two-device
# run; left running (CI=true or DEMO_NONINTERACTIVE=1: stopped at the end).
demo:
	@tests/deps.sh $(DEB_BUILD) $(DEB_DEMO)
	@$(MAKE) --no-print-directory all
	@POPGATE_BINARY=$(BIN) DEMO_IMAP_PORT=$(DEMO_IMAP_PORT) \
	    DEMO_POP3_PORT=$(DEMO_POP3_PORT) tests/demo/demo.sh

demo-stop:
	@tests/demo/demo.sh stop

# The man pages are roff sources: check that they render without warnings.
man:
	@tests/deps.sh man-db groff-base
	@for p in $(MAN_PAGES); do \
	    w=$$( { groff -man -ww -z $$p; MANWIDTH=80 man --warnings -l $$p >/dev/null; } 2>&1 ); \
	    if [ -n "$$w" ]; then echo "$$p:"; echo "$$w"; exit 1; fi; \
	    echo "$$p: renders without warnings (man -l $$p)"; \
	done

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJ:.o=.d) $(BUILD)/obj/proxy/main.d $(wildcard $(BUILD)/deps/*.d)
