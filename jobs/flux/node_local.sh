#!/bin/bash
#flux: --job-name=motifbench-node-local
#flux: -N 2
#flux: -t 60m
# N nodes (flux batch -N), semi-tight with one inference server on each node.
#   flux batch -N 4 --env=MOTIF=digital_replica --env=RANKS_PER_NODE=8 jobs/flux/node_local.sh
# Parameters: as jobs/flux/one_node.sh.
set -euo pipefail
nodes="$(flux resource list -n -o '{nnodes}' -s up)"
export RANK_LAUNCHER="flux run -N $nodes --tasks-per-node=${RANKS_PER_NODE:-1} -o pmi=simple"
exec "${MOTIFBENCH_JOBS:-$PWD/jobs}/run_layout.sh" node_local
