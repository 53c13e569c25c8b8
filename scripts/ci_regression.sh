#!/usr/bin/env bash
# CI regression tracking: runs the tiny sweep of every motif and coupling mode
# and compares it with a baseline, exiting non-zero on a regression beyond the
# measured noise. Two ways to get the baseline:
#  - stored: ci/baselines/<machine>/, several sweeps recorded on that machine
#    type (--refresh); their spread is the drift between runs that the
#    comparison allows for;
#  - A/B (MOTIFBENCH_BASE_BIN): the baseline binary (an older build) swept on
#    this machine now, in rounds alternating with the new one (base, new; new,
#    base; ...), so that both sides meet the same neighbours. On shared
#    machines, whose speed drifts from minute to minute, this is the one that
#    tells a change in the code from a change in the machine.
#
# Usage:
#   scripts/ci_regression.sh             compare against the stored baseline (exit 1 on a regression)
#   scripts/ci_regression.sh --refresh   replace that baseline with fresh sweeps (then commit it)
#   MOTIFBENCH_BASE_BIN=old/motifbench scripts/ci_regression.sh   A/B against an older build, no stored baseline
# Environment:
#   MOTIFBENCH_MACHINE     baseline folder name (default: <arch>-<cores>cores-<CPU model>, e.g.
#                          x86_64-2cores-amd-epyc, from /proc/cpuinfo's model name; --refresh writes that
#                          one. Without a baseline for this CPU model the comparison takes <arch>-<cores>cores,
#                          else the first <arch>-<cores>cores-* there is, and says so: a difference may then
#                          be the CPU's)
#   MOTIFBENCH_THRESHOLD   relative change that counts (default 0.25: tiny runs on shared machines drift
#                          between runs by more than their in-run noise shows)
#   MOTIFBENCH_BIN         the motifbench binary (default build/default/motifbench, else build/ci/motifbench,
#                          else the installed prefix's bin/motifbench)
#   MOTIFBENCH_BASELINES   folder of the baselines (default ci/baselines)
#   MOTIFBENCH_SWEEP_OUT   where the sweeps write (default results/ci-sweep)
#   MOTIFBENCH_BASELINE_SWEEPS  sweeps a --refresh records (default 3)
#   MOTIFBENCH_BASE_BIN    A/B mode: the baseline build's motifbench
#   MOTIFBENCH_AB_ROUNDS   A/B mode: rounds, one sweep of each binary per round (default 2)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# In a source tree, paths are relative to it; installed (share/motifbench/scripts),
# relative to the current folder.
if [ -f "$here/../CMakeLists.txt" ]; then cd "$here/.."; fi
threshold="${MOTIFBENCH_THRESHOLD:-0.25}"
bin="${MOTIFBENCH_BIN:-}"
if [ -z "$bin" ]; then
  for b in build/default/motifbench build/ci/motifbench "$here/../../../bin/motifbench"; do [ -x "$b" ] && bin="$b" && break; done
fi
[ -x "${bin:-}" ] || { echo "ci_regression: build motifbench first (scripts/build.sh)" >&2; exit 2; }
base_bin="${MOTIFBENCH_BASE_BIN:-}"
if [ -n "$base_bin" ] && [ ! -x "$base_bin" ]; then
  echo "ci_regression: MOTIFBENCH_BASE_BIN=$base_bin is not an executable motifbench" >&2
  exit 2
fi
refresh=0
[ "${1:-}" = "--refresh" ] && refresh=1
baselines="${MOTIFBENCH_BASELINES:-ci/baselines}"
if [ -n "${MOTIFBENCH_MACHINE:-}" ]; then
  machine="$MOTIFBENCH_MACHINE"
else
  generic="$(uname -m)-$(nproc)cores"
  model="$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)"
  slug="$(printf '%s' "${model:-unknown}" | tr 'A-Z' 'a-z' | sed -e 's/(r)//g; s/(tm)//g; s/[^a-z0-9][^a-z0-9]*/-/g; s/^-//; s/-$//')"
  machine="$generic-${slug:-unknown}"
  if [ "$refresh" = 0 ] && [ ! -d "$baselines/$machine" ]; then
    other=""
    if [ -d "$baselines/$generic" ]; then
      other="$generic"
    else
      for d in "$baselines/$generic"-*/; do [ -d "$d" ] && other="$(basename "$d")" && break; done
    fi
    if [ -n "$other" ]; then
      echo "ci_regression: no baseline for this CPU model ($machine); comparing against $other, recorded on" \
           "another: a difference may be the CPU's (record one with --refresh)" >&2
      machine="$other"
    fi
  fi
fi
baseline="$baselines/$machine"
if [ "$refresh" = 1 ] && [ -n "$base_bin" ]; then
  echo "ci_regression: --refresh records a stored baseline; MOTIFBENCH_BASE_BIN compares A/B without one: pick one" >&2
  exit 2
fi
sweeps="${MOTIFBENCH_BASELINE_SWEEPS:-3}"
rounds="${MOTIFBENCH_AB_ROUNDS:-2}"
for n in "$sweeps" "$rounds"; do
  case "$n" in ''|*[!0-9]*|0) echo "ci_regression: MOTIFBENCH_BASELINE_SWEEPS and MOTIFBENCH_AB_ROUNDS take a whole number >= 1, got '$n'" >&2; exit 2;; esac
done
# Check for a baseline before spending minutes on a sweep.
if [ "$refresh" = 0 ] && [ -z "$base_bin" ] && [ ! -d "$baseline" ]; then
  echo "ci_regression: no baseline for machine type '$machine'; create one with: scripts/ci_regression.sh --refresh" >&2
  echo "  (or compare A/B against an older build: MOTIFBENCH_BASE_BIN=<its motifbench> scripts/ci_regression.sh)" >&2
  exit 2
fi
out="${MOTIFBENCH_SWEEP_OUT:-results/ci-sweep}"
rm -rf "$out"
sweep_rc=0
sweep() {  # sweep BINARY OUT_DIR: one tiny sweep of every cell; a failing cell is remembered
  "$1" sweep --motif=all --coupling=all --size=tiny --repetitions=5 --seed=1 --out-dir="$2" || sweep_rc=$?
}
if [ "$refresh" = 1 ]; then
  for k in $(seq 1 "$sweeps"); do sweep "$bin" "$out/sweep-$k"; done
  if [ "$sweep_rc" != 0 ]; then
    echo "ci_regression: a sweep had failing cells (exit $sweep_rc); not refreshing $baseline from it" >&2
    exit 1
  fi
  rm -rf "$baseline"
  mkdir -p "$baseline"
  cp -r "$out"/sweep-* "$baseline"/
  find "$baseline" -name '*.log' -delete
  echo "ci_regression: baseline $baseline refreshed from $sweeps sweep(s) on this machine; review and commit it"
  exit 0
fi
if [ -n "$base_bin" ]; then
  for k in $(seq 1 "$rounds"); do
    if [ $((k % 2)) = 1 ]; then
      sweep "$base_bin" "$out/base/round-$k"; sweep "$bin" "$out/new/round-$k"
    else
      sweep "$bin" "$out/new/round-$k"; sweep "$base_bin" "$out/base/round-$k"
    fi
  done
  reference="$out/base"
  fresh="$out/new"
else
  sweep "$bin" "$out"
  reference="$baseline"
  fresh="$out"
fi
compare_rc=0
"$bin" compare "$reference" "$fresh" --pool --threshold="$threshold" --out="$out/compare.json" || compare_rc=$?
if [ "$sweep_rc" != 0 ]; then
  echo "ci_regression: a sweep had failing cells (exit $sweep_rc): see the index.json files under $out" >&2
  exit 1
fi
exit "$compare_rc"
