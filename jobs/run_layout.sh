#!/usr/bin/env bash
# Runs motifbench in one of three layouts inside a batch allocation, writes the
# results and a sweep index under $RESULTS/<layout>/, and prints the compare
# lines. The scheduler scripts beside this one (slurm/, pbs/, flux/) set the
# launchers and call it; you can also call it yourself.
#
# Usage: run_layout.sh one_node|node_local|dedicated
# Environment (defaults in brackets):
#   MOTIFBENCH        the motifbench executable [motifbench on PATH]
#   MOTIF             motifs, comma-separated, or all [digital_replica]
#   COUPLING          couplings, comma-separated, or all; one_node only [all]
#   SIZE              sizes, comma-separated [small]
#   RESULTS           results folder [results/<job id or date>]
#   RANK_LAUNCHER     starts the ranks of one run, e.g. "srun --mpi=pmi2 -N 2 --ntasks-per-node=4"
#   dedicated only:
#   SERVICE_LAUNCHER  starts one process on the service node, e.g. "srun -N 1 -n 1 -w node01 --overlap"
#   SERVICE_HOST      address of the service node that the ranks connect to
#   SERVICE_LISTEN    address the services bind to [SERVICE_HOST]
#   EXTRA_ARGS        more arguments for every run, e.g. "--threads=1 --repetitions=3"
set -euo pipefail
layout="${1:?usage: run_layout.sh one_node|node_local|dedicated}"
mb="${MOTIFBENCH:-motifbench}"
motif="${MOTIF:-digital_replica}"
size="${SIZE:-small}"
results="${RESULTS:-results/${SLURM_JOB_ID:-${PBS_JOBID:-${FLUX_JOB_ID:-$(date +%Y%m%dT%H%M%S)}}}}"
out="$results/$layout"
mkdir -p "$out"
read -r -a extra <<< "${EXTRA_ARGS:-}"
sweep=("$mb" sweep "--motif=$motif" "--size=$size" "--out-dir=$out" "--launcher=${RANK_LAUNCHER:-}")

case "$layout" in
  one_node)
    "${sweep[@]}" "--coupling=${COUPLING:-all}" "${extra[@]}"
    ;;
  node_local)
    # Semi-tight starts one server per node (coupling.servers_per_node), found
    # with MPI's shared-memory split; each rank uses its own node's server.
    "${sweep[@]}" --coupling=semi-tight "${extra[@]}"
    ;;
  dedicated)
    # Loose with the inference server and Redis on a node of their own (the
    # "AI on other nodes" placement). Both require the run's secrets, kept in
    # an owner-only folder of the (shared) results folder.
    : "${SERVICE_LAUNCHER:?dedicated needs SERVICE_LAUNCHER}" "${SERVICE_HOST:?dedicated needs SERVICE_HOST}"
    listen="${SERVICE_LISTEN:-$SERVICE_HOST}"
    secrets="$out/.secrets"
    mkdir -p -m 700 "$secrets"
    umask 077
    head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secrets/token"
    redis_pw="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    printf 'requirepass %s\nsave ""\nappendonly no\n' "$redis_pw" > "$secrets/redis.conf"
    read -r -a service <<< "$SERVICE_LAUNCHER"
    server_pid="" redis_pid=""
    trap 'kill $server_pid $redis_pid 2>/dev/null; wait $server_pid $redis_pid 2>/dev/null || true' EXIT
    # Ports below the usual ephemeral range (32768+); a port that another
    # process holds ends that try, and the next one draws new ports (SERVER_PORT
    # and REDIS_PORT, when set, are used as they are, once).
    tries=3
    [ -n "${SERVER_PORT:-}${REDIS_PORT:-}" ] && tries=1
    up=""
    for try in $(seq 1 "$tries"); do
      server_port="${SERVER_PORT:-$((20000 + RANDOM % 12000))}"
      redis_port="${REDIS_PORT:-$((server_port + 1))}"
      "${service[@]}" "$mb" serve --listen "$listen:$server_port" --token-file "$secrets/token" > "$out/serve.log" 2>&1 &
      server_pid=$!
      "${service[@]}" redis-server "$secrets/redis.conf" --bind "$listen" --port "$redis_port" > "$out/redis.log" 2>&1 &
      redis_pid=$!
      # Both must say they are ready (LibTorch's start can take a while on a
      # loaded node); a service that exits ends the try at once.
      for _ in $(seq 1 300); do
        if grep -q "Ready to accept" "$out/redis.log" 2>/dev/null && grep -q "listening on" "$out/serve.log"; then
          up=yes
          break
        fi
        kill -0 "$server_pid" 2>/dev/null && kill -0 "$redis_pid" 2>/dev/null || break
        sleep 0.2
      done
      [ -n "$up" ] && break
      echo "run_layout.sh: try $try: the services did not start on $listen (ports $server_port, $redis_port)" >&2
      tail -n 3 "$out/serve.log" "$out/redis.log" >&2 || true
      kill $server_pid $redis_pid 2>/dev/null || true
      wait $server_pid $redis_pid 2>/dev/null || true
    done
    if [ -z "$up" ]; then
      echo "run_layout.sh: no try started both services; see $out/serve.log and $out/redis.log" >&2
      exit 1
    fi
    MOTIFBENCH_TOKEN="$(cat "$secrets/token")" MOTIFBENCH_REDIS_PASSWORD="$redis_pw" \
      "${sweep[@]}" --coupling=loose "--set=coupling.server_addresses=$SERVICE_HOST:$server_port" \
      "--set=coupling.redis_address=$SERVICE_HOST:$redis_port" "${extra[@]}"
    ;;
  *)
    echo "run_layout.sh: unknown layout '$layout'; valid: one_node, node_local, dedicated" >&2
    exit 2
    ;;
esac
echo "results: $out (index: $out/index.json)"
echo "compare the layouts (same motif, coupling and size match):"
echo "  $mb compare $results/one_node $results/node_local     # semi-tight: one node vs node-local servers"
echo "  $mb compare $results/one_node $results/dedicated      # loose: embedded vs dedicated service node"
