#!/usr/bin/env bash
# CI regression tracking: runs the tiny sweep of every motif and coupling mode,
# compares it with the baseline stored in the repository for this machine type,
# and exits non-zero on a regression beyond the measured noise.
#
# Usage:
#   scripts/ci_regression.sh             compare against ci/baselines/<machine>/ (exit 1 on a regression)
#   scripts/ci_regression.sh --refresh   replace that baseline with a fresh sweep (then commit it)
# Environment:
#   MOTIFBENCH_MACHINE     baseline folder name (default: <arch>-<cores>cores, e.g. x86_64-2cores)
#   MOTIFBENCH_THRESHOLD   relative change that counts (default 0.25: tiny runs on shared machines drift
#                          between runs by more than their in-run noise shows)
#   MOTIFBENCH_BIN         the motifbench binary (default build/default/motifbench, else build/ci/motifbench,
#                          else the installed prefix's bin/motifbench)
#   MOTIFBENCH_BASELINES   folder of the baselines (default ci/baselines)
#   MOTIFBENCH_SWEEP_OUT   where the sweep writes (default results/ci-sweep)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# In a source tree, paths are relative to it; installed (share/motifbench/scripts),
# relative to the current folder.
if [ -f "$here/../CMakeLists.txt" ]; then cd "$here/.."; fi
machine="${MOTIFBENCH_MACHINE:-$(uname -m)-$(nproc)cores}"
threshold="${MOTIFBENCH_THRESHOLD:-0.25}"
bin="${MOTIFBENCH_BIN:-}"
if [ -z "$bin" ]; then
  for b in build/default/motifbench build/ci/motifbench "$here/../../../bin/motifbench"; do [ -x "$b" ] && bin="$b" && break; done
fi
[ -x "${bin:-}" ] || { echo "ci_regression: build motifbench first (scripts/build.sh)" >&2; exit 2; }
baseline="${MOTIFBENCH_BASELINES:-ci/baselines}/$machine"
refresh=0
[ "${1:-}" = "--refresh" ] && refresh=1
# Check for a baseline before spending minutes on a sweep.
if [ "$refresh" = 0 ] && [ ! -d "$baseline" ]; then
  echo "ci_regression: no baseline for machine type '$machine'; create one with: scripts/ci_regression.sh --refresh" >&2
  exit 2
fi
out="${MOTIFBENCH_SWEEP_OUT:-results/ci-sweep}"
rm -rf "$out"
sweep_rc=0
"$bin" sweep --motif=all --coupling=all --size=tiny --repetitions=5 --seed=1 --out-dir="$out" || sweep_rc=$?
if [ "$refresh" = 1 ]; then
  if [ "$sweep_rc" != 0 ]; then
    echo "ci_regression: the sweep had failing cells (exit $sweep_rc); not refreshing $baseline from it" >&2
    exit 1
  fi
  rm -rf "$baseline"
  mkdir -p "$baseline"
  cp "$out"/*.json "$baseline"/
  echo "ci_regression: baseline $baseline refreshed from this machine; review and commit it"
  exit 0
fi
compare_rc=0
"$bin" compare "$baseline" "$out" --threshold="$threshold" --out="$out/compare.json" || compare_rc=$?
if [ "$sweep_rc" != 0 ]; then
  echo "ci_regression: the sweep had failing cells (exit $sweep_rc): see $out/index.json" >&2
  exit 1
fi
exit "$compare_rc"
