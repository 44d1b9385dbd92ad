#!/usr/bin/env bash
# Test entry point: scripts/test.sh unit|kernel|all   (run by make test*, after the build)
#   unit    node --test over compiled unit tests (dist/**/*.test.js except dist/test/kernel/)
#   kernel  the kernel suite in a real kernel with IPVS (test/harness/kernel-suite.ts)
#   all     both; ends with the kernel-count line and ONE final line
#           `tests: N passed, M failed, K skipped`
# Exit non-zero if anything failed, or if the kernel suite could not run under CI=true.
set -uo pipefail
cd "$(dirname "$0")/.."
NODE=${NODE:-node}
RUN=.run
mkdir -p "$RUN"

mode=${1:-all}

# Compiled unit test files, passed explicitly: given a directory, Node 20's
# --test would treat every file under a test/ folder as a test. A dist file
# whose .ts source is gone is a stale build output: skip it (and say so).
unit_files() {
  local f src
  while IFS= read -r f; do
    src="${f#dist/}"; src="${src%.js}.ts"
    if [ -f "$src" ]; then printf '%s\n' "$f"; else echo "unit: skipping stale $f (no $src)" >&2; fi
  done < <(find dist -name '*.test.js' -not -path 'dist/test/kernel/*' -not -path '*/node_modules/*' 2>/dev/null | sort)
}

# Count lines `# <key> N` at the top level of a TAP file (Node prints them last).
tap_count() { local v; v=$(grep -E "^# $1 [0-9]+$" "$2" 2>/dev/null | tail -n1 | awk '{print $3}'); echo "${v:-0}"; }

UNIT_PASS=0 UNIT_FAIL=0 UNIT_SKIP=0
run_unit() {
  local files=() rc
  mapfile -t files < <(unit_files)
  if [ ${#files[@]} -eq 0 ]; then
    echo "unit: no compiled unit test files found (dist/**/*.test.js outside dist/test/kernel/): 0 tests"
    return 0
  fi
  echo "==> unit tests: ${#files[@]} file(s)"
  local tap="$RUN/unit.tap"
  rm -f "$tap"
  # Human-readable spec output on the terminal, TAP to a file for the counts.
  "$NODE" --test --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" "${files[@]}"
  rc=$?
  UNIT_PASS=$(tap_count pass "$tap")
  UNIT_FAIL=$(( $(tap_count fail "$tap") + $(tap_count cancelled "$tap") ))
  UNIT_SKIP=$(( $(tap_count skipped "$tap") + $(tap_count todo "$tap") ))
  if [ "$rc" -ne 0 ] && [ "$UNIT_FAIL" -eq 0 ]; then
    # The runner failed without a failing test (crash, bad flag): never hide it.
    echo "unit: node --test exited $rc with no failing test counted: counting it as a failure" >&2
    UNIT_FAIL=1
  fi
  echo "unit: $UNIT_PASS passed, $UNIT_FAIL failed, $UNIT_SKIP skipped"
  [ "$UNIT_FAIL" -eq 0 ]
}

KERNEL_PASS=0 KERNEL_FAIL=0 KERNEL_SKIP=0 KERNEL_LINE="kernel: 0 tests ran inside a real kernel (suite did not report)"
run_kernel() {
  local rc summary="$RUN/kernel-summary.json"
  echo "==> kernel tests"
  rm -f "$summary"
  "$NODE" dist/test/harness/kernel-suite.js
  rc=$?
  if [ ! -f "$summary" ]; then
    echo "kernel: the suite crashed before writing $summary (exit $rc)" >&2
    KERNEL_FAIL=1
    return 1
  fi
  # One node call reads the summary into shell variables.
  eval "$("$NODE" -e '
    const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const q = (v) => "\x27" + String(v).replace(/\x27/g, "\x27\\\x27\x27") + "\x27";
    console.log(`KERNEL_PASS=${s.passed} KERNEL_FAIL=${s.failed} KERNEL_SKIP=${s.skipped} KERNEL_LINE=${q(s.line)}`);
  ' "$summary")"
  if [ "$rc" -ne 0 ] && [ "$KERNEL_FAIL" -eq 0 ]; then KERNEL_FAIL=1; fi  # e.g. no kernel under CI=true
  return "$rc"
}

case "$mode" in
  unit) run_unit ;;
  kernel) run_kernel ;;
  all)
    run_unit; unit_rc=$?
    run_kernel; kernel_rc=$?
    echo "unit: $UNIT_PASS passed, $UNIT_FAIL failed, $UNIT_SKIP skipped"
    echo "$KERNEL_LINE"
    echo "tests: $((UNIT_PASS + KERNEL_PASS)) passed, $((UNIT_FAIL + KERNEL_FAIL)) failed, $((UNIT_SKIP + KERNEL_SKIP)) skipped"
    [ "$unit_rc" -eq 0 ] && [ "$kernel_rc" -eq 0 ]
    ;;
  *) echo "usage: $0 unit|kernel|all" >&2; exit 64 ;;
esac
