#!/bin/bash
#flux: --job-name=motifbench-dedicated
#flux: -N 2
#flux: -t 60m
# Loose coupling with the inference server and Redis on rank 0 of the
# instance's nodes and the ranks on the others.
#   flux batch -N 3 --env=MOTIF=digital_replica --env=RANKS_PER_NODE=8 jobs/flux/dedicated.sh
# Parameters: as jobs/flux/one_node.sh, and SERVICE_LISTEN.
set -euo pipefail
nodes="$(flux resource list -n -o '{nnodes}' -s up)"
if [ "$nodes" -lt 2 ]; then
  echo "dedicated.sh: needs at least 2 nodes (one for the services); got $nodes" >&2
  exit 2
fi
export SERVICE_LAUNCHER="flux run -N 1 -n 1 --requires=rank:0"
export SERVICE_HOST="${SERVICE_HOST:-$(flux run -N 1 -n 1 --requires=rank:0 hostname)}"
export RANK_LAUNCHER="flux run -N $((nodes - 1)) --requires=-rank:0 --tasks-per-node=${RANKS_PER_NODE:-1} -o pmi=simple"
exec "${MOTIFBENCH_JOBS:-$PWD/jobs}/run_layout.sh" dedicated
