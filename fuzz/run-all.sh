#!/usr/bin/env bash
# Builds the AFL++ targets and runs each for N executions, one after the
# other, then summarises executions, crashes and hangs from AFL's
# fuzzer_stats. Exits non-zero if any target crashed or hung.
#
#   fuzz/run-all.sh N [TARGET...]
#
# Environment: CARGO_TARGET_DIR (default fuzz/afl/target), WAYBILL_FUZZ_OUT
# (findings, default fuzz/out), WAYBILL_FUZZ_SECONDS (also stop each
# target after this many seconds), WAYBILL_FUZZ_TIMEOUT (ms per
# execution before AFL counts a hang, default 1000). Everything runs at
# the lowest CPU priority.
set -euo pipefail

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 EXECUTIONS [TARGET...]" >&2
  exit 2
fi
execs=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
all=(entry entry_json batch_json block certificate gossip_batch consensus bundle genesis key_file geojson http_path trail_json checkpoint terms_json key_proof)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/afl/target}
out=${WAYBILL_FUZZ_OUT:-$here/out}
timeout_ms=${WAYBILL_FUZZ_TIMEOUT:-1000}
# No CPU governor check, no crash reporter check, no curses screen, and
# no pinning to a core (the machine is shared).
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1

(cd "$here/afl" && nice -n 19 cargo afl build --release --locked)

limit=()
[ -z "${WAYBILL_FUZZ_SECONDS:-}" ] || limit=(-V "$WAYBILL_FUZZ_SECONDS")

failed=0
rows=()
for t in "${targets[@]}"; do
  [ -d "$here/corpus/$t" ] || { echo "no corpus for target $t" >&2; exit 2; }
  rm -rf "${out:?}/$t"
  mkdir -p "$out"
  echo "== $t: up to $execs executions"
  # -m: a memory limit (MiB), so a huge allocation aborts as a crash.
  nice -n 19 cargo afl fuzz -i "$here/corpus/$t" -o "$out/$t" -E "$execs" \
    -t "$timeout_ms" -m 2048 "${limit[@]}" -- "$CARGO_TARGET_DIR/release/$t" >"$out/$t.log" 2>&1 || {
    echo "afl-fuzz failed for $t; see $out/$t.log" >&2
    tail -20 "$out/$t.log" >&2
    failed=1
    continue
  }
  stats="$out/$t/default/fuzzer_stats"
  get() { awk -F: -v k="$1" '{gsub(/ /, "", $1)} $1 == k {gsub(/ /, "", $2); print $2}' "$stats"; }
  done_=$(get execs_done)
  crashes=$(get saved_crashes)
  hangs=$(get saved_hangs)
  speed=$(get execs_per_sec)
  rows+=("$(printf '%-13s %12s %10s %8s %8s' "$t" "$done_" "$speed" "$crashes" "$hangs")")
  if [ "${crashes:-0}" != 0 ] || [ "${hangs:-0}" != 0 ]; then
    failed=1
    echo "   $t: $crashes crashes, $hangs hangs: see $out/$t/default/crashes and hangs" >&2
  fi
done

printf '\n%-13s %12s %10s %8s %8s\n' target executions exec/s crashes hangs
printf '%s\n' "${rows[@]}"
exit $failed
