#!/bin/sh
# make demo / make demo-stop: see tests/demo/demo.py.
#   tests/demo/demo.sh          start the demo (left running unless CI=true
#                               or DEMO_NONINTERACTIVE=1)
#   tests/demo/demo.sh stop     stop everything the demo started
set -eu
cd "$(dirname "$0")/../.."
exec python3 tests/demo/demo.py "${1:-run}"
