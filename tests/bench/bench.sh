#!/bin/sh
# make bench: popgate against native Dovecot POP3 on the same private Dovecot
# and mailbox (see tests/bench/bench.py for what is measured). Run from the
# repository root; the binary is build/popgate unless POPGATE_BINARY says.
# Exit 0 whatever the targets say; 1 if the run itself failed.
set -eu
cd "$(dirname "$0")/../.."
exec python3 tests/bench/bench.py --binary "${POPGATE_BINARY:-build/popgate}" "$@"
