#!/usr/bin/env bash
# Installs, builds, and runs the main job: the digital replica at size small,
# tight-coupled (surrogate in process) and uncoupled (exact closure), with the
# measured speed-up of the surrogate over the exact closure; then every motif
# in every coupling mode at size tiny (a sweep with an index), and plots.
# Usage: scripts/run.sh [size]     (default: small)
set -euo pipefail
cd "$(dirname "$0")/.."
size="${1:-small}"
scripts/setup.sh
scripts/build.sh default
mb=build/default/motifbench
mkdir -p results
status=0
for coupling in tight none; do
  "$mb" --motif=digital_replica --coupling="$coupling" --size="$size" \
        --out="results/digital_replica_${coupling}_${size}.json" || status=$?
done
/usr/bin/python3 scripts/summarize.py results/digital_replica_tight_"$size".json results/digital_replica_none_"$size".json
echo
"$mb" sweep --motif=all --coupling=all --size=tiny --out-dir=results/sweep || status=$?
/usr/bin/python3 scripts/plot_results.py results/sweep --out-dir results/plots || true
exit "$status"
