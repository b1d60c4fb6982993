#!/usr/bin/env bash
# The ring's unsafe code under valgrind's memcheck: the ring's unit tests (single-threaded
# wrap-around and the two-thread order test) run in the release test binary under memcheck,
# which fails on any read of uninitialised memory, access out of bounds or after free.
#
# Miri would also check the atomics' orderings, but needs a nightly toolchain this project's
# CI does not have; valgrind runs the same optimised code the tests run.
#
# Needs valgrind (Debian: apt-get install -y valgrind). Usage: tools/valgrind_ring.sh
# Called by .ci/run after the tests. Exit status: 0 clean, 1 memcheck found an error or a test
# failed, 2 something is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v valgrind >/dev/null 2>&1 || { echo "valgrind_ring: valgrind missing (Debian: apt-get install -y valgrind)" >&2; exit 2; }
bin=$(cargo test --release --lib --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["lib"]:
        print(m["executable"])')
[ -x "$bin" ] || { echo "valgrind_ring: no test binary found" >&2; exit 2; }
# Fewer items for the threaded test: valgrind runs threads one at a time, about 50x slower.
CPRA_RING_TEST_ITEMS=200000 valgrind --quiet --error-exitcode=1 --leak-check=no --fair-sched=yes \
  "$bin" probe::ring --test-threads=1
echo "valgrind_ring: memcheck clean"
