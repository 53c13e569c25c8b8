#!/usr/bin/python3
"""Node-local semi-tight servers: 4 ranks on two emulated nodes (MOTIFBENCH_NODE_VAR
names a variable whose value differs per node) start one server per node, and
each rank uses only its own node's server, as the result's rank_to_server shows.

Usage: node_local.py MOTIFBENCH MPIEXEC SCRATCH_DIR
"""
import json
import os
import subprocess
import sys


def main():
    exe, mpiexec, scratch = sys.argv[1:4]
    os.makedirs(scratch, exist_ok=True)
    out = os.path.join(scratch, "node_local.json")
    if os.path.exists(out):
        os.remove(out)
    args = [exe, "--motif=digital_replica", "--coupling=semi-tight", "--size=tiny", "--threads=1", "--quiet",
            "--repetitions=1", f"--out={out}"]
    cmd = [mpiexec, "-genv", "MOTIFBENCH_NODE_VAR", "MB_TEST_NODE", "-genv", "OPENBLAS_NUM_THREADS", "1",
           "-n", "2", "-env", "MB_TEST_NODE", "nodeA"] + args + [":", "-n", "2", "-env", "MB_TEST_NODE", "nodeB"] + args
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0 or not os.path.exists(out):
        print(f"FAIL: exit {r.returncode}\n{r.stdout[-1500:]}\n{r.stderr[-1500:]}")
        return 1
    doc = json.load(open(out))
    c = doc["coupling"]
    problems = []
    by_node = {}
    for s in doc["services"]:
        if s["kind"] == "inference_server":
            by_node.setdefault(s.get("node"), []).append(s["endpoint"])
    if sorted(by_node) != ["nodeA", "nodeB"] or any(len(v) != 1 for v in by_node.values()):
        problems.append(f"servers per node: {by_node}")
    placed = {p["rank_index"]: p for p in c["rank_to_server"]}
    for rank, node in ((0, "nodeA"), (1, "nodeA"), (2, "nodeB"), (3, "nodeB")):
        p = placed.get(rank)
        if p is None or p["node"] != node or p["endpoints"] != by_node.get(node):
            problems.append(f"rank {rank}: {p}")
    if not doc["valid"] or c["servers_count"] != 2:
        problems.append(f"valid {doc['valid']}, servers {c['servers_count']}")
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    for rank in range(4):
        p = placed[rank]
        print(f"rank {rank} on {p['node']} ({p['host']}): {p['endpoints'][0]}")
    print("ok: each rank uses its own node's server")
    return 0


if __name__ == "__main__":
    sys.exit(main())
