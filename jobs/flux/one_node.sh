#!/bin/bash
#flux: --job-name=motifbench-one-node
#flux: -N 1
#flux: -t 60m
# One node: every coupling mode. Submit from the folder where results/ should go:
#   flux batch --env=MOTIF=digital_replica --env=RANKS_PER_NODE=4 jobs/flux/one_node.sh
# Parameters: MOTIF, COUPLING, SIZE, RANKS_PER_NODE (default 1), EXTRA_ARGS, RESULTS,
# MOTIFBENCH, MOTIFBENCH_JOBS (default jobs/ under the current folder).
set -euo pipefail
export RANK_LAUNCHER="flux run -N 1 --tasks-per-node=${RANKS_PER_NODE:-1} -o pmi=simple"
exec "${MOTIFBENCH_JOBS:-$PWD/jobs}/run_layout.sh" one_node
