#!/usr/bin/env bash
# Installs the Debian packages, builds, and runs every CTest tier.
# Usage: scripts/test.sh [ctest args...]   e.g. scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
preset="${MOTIFBENCH_PRESET:-ci}"
scripts/build.sh "$preset"
ctest --preset "$preset" -j "$(nproc)" "$@"
