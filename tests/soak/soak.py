#!/usr/bin/python3
"""Soak: a long `loose` run of Digital Replica (servers and Redis on loopback).

Samples the resident memory (VmRSS) of the run and of each child process
every few seconds, and reads the latency of each repetition (a window) from
the result. Fails when
  - any process's RSS at the end exceeds its RSS after the first window by
    more than 25% + 64 MiB (a leak), or
  - the p50 of `rpc_roundtrip` in one window differs from the first window's
    by more than a factor of 3 (a drift), or
  - the run is not VALID.
Bounded: the run lasts DURATION_S (default 600) plus start-up; every server is
on loopback and stops with the run.

Usage: soak.py MOTIFBENCH SCRATCH_DIR [DURATION_S]
"""
import json
import os
import subprocess
import sys
import time

WINDOWS = 10
RSS_FACTOR, RSS_SLACK_KIB = 1.25, 64 * 1024
P50_FACTOR = 3.0


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def name(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            parts = f.read().split(b"\0")
        return " ".join(p.decode() for p in parts[:2])
    except OSError:
        return str(pid)


def main():
    exe, scratch = sys.argv[1], sys.argv[2]
    duration = float(sys.argv[3]) if len(sys.argv) > 3 else 600.0
    os.makedirs(scratch, exist_ok=True)
    out = os.path.join(scratch, "soak.json")
    window_s = duration / WINDOWS
    p = subprocess.Popen([exe, "--motif=digital_replica", "--coupling=loose", "--size=small", f"--out={out}",
                          f"--repetitions={WINDOWS}", f"--min-time-s={window_s}", "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples = {}  # pid -> [(t, rss_kib)]
    names = {}    # pid -> command, read while the process lives
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < duration * 1.5 + 300:
        for pid in [p.pid] + children(p.pid):
            r = rss_kib(pid)
            if pid not in names:
                names[pid] = name(pid)
            if r is not None:
                samples.setdefault(pid, []).append((time.time() - t0, r))
        time.sleep(5)
    if p.poll() is None:
        p.kill()
        print("FAIL soak: the run did not end within its bound")
        return 1
    stdout, stderr = p.communicate()
    problems = []
    if p.returncode != 0 or "result: VALID" not in stdout:
        problems.append(f"run not VALID (exit {p.returncode}): {stderr[-300:]}")
    doc = json.load(open(out)) if os.path.exists(out) else {"repetitions": []}
    reps = doc["repetitions"]
    # Memory: after the first window (warm, models loaded) vs the end.
    first_window_end = reps[0]["setup_s"] + reps[0]["measured_s"] if reps else 30
    print(f"{'process':40s} {'start MiB':>10s} {'max MiB':>10s} {'end MiB':>10s}")
    for pid, ss in samples.items():
        warm = [r for t, r in ss if t >= first_window_end] or [ss[-1][1]]
        start, peak, end = warm[0], max(r for _, r in ss), ss[-1][1]
        print(f"{names.get(pid, str(pid))[:40]:40s} {start / 1024:10.1f} {peak / 1024:10.1f} {end / 1024:10.1f}")
        if end > start * RSS_FACTOR + RSS_SLACK_KIB:
            problems.append(f"{names.get(pid, pid)}: RSS grew from {start / 1024:.1f} to {end / 1024:.1f} MiB")
    # Latency drift per window.
    p50s = [r["latency"].get("rpc_roundtrip", {}).get("p50_ns") for r in reps]
    p50s = [x for x in p50s if x]
    print("rpc_roundtrip p50 per window (us): " + ", ".join(f"{x / 1e3:.0f}" for x in p50s))
    if len(p50s) < WINDOWS:
        problems.append(f"only {len(p50s)} of {WINDOWS} windows have rpc_roundtrip latency")
    elif max(p50s) > P50_FACTOR * p50s[0] or min(p50s) < p50s[0] / P50_FACTOR:
        problems.append(f"p50 drifted beyond x{P50_FACTOR}: {p50s}")
    if problems:
        print("FAIL soak: " + "; ".join(problems))
        return 1
    print(f"ok soak: {WINDOWS} windows over {duration:.0f} s, memory bounded, p50 within x{P50_FACTOR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
