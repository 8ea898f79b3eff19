# popgate — POP3 gateway to IMAP with per-device state.
#
#   make            build build/popgate
#   make deps       install missing Debian packages (apt-get; root or sudo)
#   make run        build and run in the foreground with conf/popgate.conf
#   make check      build, unit tests, fuzz smoke, end-to-end tests
#   make asan       the same binary and tests with ASan+UBSan (or SANITIZE=1)
#   make fuzz       run every libFuzzer harness for FUZZ_SECS seconds (clang)
#   make bench      benchmark against native Dovecot POP3 (ratios)
#   make demo       private Dovecot + popgate, two devices scripted; demo-stop
#   make install    PREFIX (/usr/local), DESTDIR; never overwrites the config
#   make deb        Debian package in build/deb/ (dpkg-buildpackage, lintian)
#   make man        render both man pages, failing on warnings

CC       ?= gcc
PKGS     := libevent libevent_openssl openssl hiredis inih
BUILD    ?= build
SANITIZE ?=
FUZZ_SECS ?= 60
PREFIX   ?= /usr/local

# Debian packages needed to build, test and benchmark.
DEB_BUILD := gcc make pkg-config libssl-dev libevent-dev libhiredis-dev \
	     libinih-dev check
DEB_TEST  := dovecot-imapd dovecot-pop3d redis-server curl fetchmail \
	     python3 openssl procps clang libclang-rt-14-dev

WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wformat=2 \
	    -Wmissing-prototypes -Wstrict-prototypes -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -D_GNU_SOURCE -iquote . -iquote proxy -iquote conf -iquote cache
ifeq ($(SANITIZE),1)
BUILD    := build-asan
CFLAGS   += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	    -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

# Every .c under proxy/ conf/ cache/ goes into one static library; main.c
# is the only file kept out so unit tests can link the library.
LIB_SRC  := $(filter-out proxy/main.c,$(wildcard proxy/*.c conf/*.c cache/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libpopgate.a
BIN      := $(BUILD)/popgate
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
# Pure modules only: what a fuzz harness may link.
PURE_SRC := proxy/pop3_parse.c proxy/pop3_filter.c proxy/imap_parse.c \
	    proxy/imap_resp.c proxy/imap_cmd.c conf/conf_value.c \
	    proxy/imap_values.c proxy/header_fp.c proxy/limits.c $(wildcard cache/cache_url.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)

.PHONY: all deps run check unit e2e fuzz fuzz-smoke asan bench clean install

all: $(BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/obj/proxy/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(CHECK_LIBS) $(PKG_LIBS)

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(PURE_SRC)
	@mkdir -p $(dir $@)
	clang -std=gnu11 -g -O1 -D_GNU_SOURCE -iquote . -iquote proxy -iquote conf -iquote cache \
	    -fsanitize=fuzzer,address,undefined -o $@ $< $(PURE_SRC)

deps:
	@tests/deps.sh $(DEB_BUILD) $(DEB_TEST)

unit: $(UNIT_BIN)
	@tests/run-unit.sh $(UNIT_BIN)

fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
	    n=$$(basename $$f); mkdir -p build-fuzz/corpus/$$n; \
	    $$f -max_total_time=$(FUZZ_SECS) build-fuzz/corpus/$$n tests/fuzz/seeds/$$n \
		>build-fuzz/$$n.log 2>&1 && echo "$$n: ok" || { echo "$$n: FAILED (build-fuzz/$$n.log)"; exit 1; }; \
	done

# Short fuzz run inside make check.
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECS=$${FUZZ_SMOKE_SECS:-10}

check: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@tests/check.sh

asan:
	@$(MAKE) --no-print-directory SANITIZE=1 all unit

run: deps $(BIN)
	$(BIN) -c conf/popgate.conf

bench: deps $(BIN)
	@tests/bench/bench.sh

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

-include $(LIB_OBJ:.o=.d) $(BUILD)/obj/proxy/main.d
