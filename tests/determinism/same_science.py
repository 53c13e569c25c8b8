#!/usr/bin/python3
"""Deterministic science: one seed gives bit-identical science metrics in
tight, semi-tight and loose. The run is bounded by iterations
(run.min_time_s=0), warm-up is by iterations (the default), and every mode
uses one thread, so the three runs take the same steps on the same data with
the same model; only where the model runs differs.

Compared: every motif-metric scalar and every event, except figures of time,
speed and copies (names ending in _s, _ns, _per_s, speedup_ratio,
bytes_copied_bytes) and what the mini-app's checks.py lists in
MODE_DEPENDENT_KEYS. A mini-app whose science depends on wall-clock by design
says so in checks.py (DETERMINISTIC = False, WHY_NOT_DETERMINISTIC) and is
reported as skipped (exit 77) with that reason.

Usage: same_science.py MOTIFBENCH SOURCE_DIR SCRATCH_DIR MOTIF
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import motifs  # noqa: E402

MODES = ("tight", "semi-tight", "loose")
TIMING_SUFFIXES = ("_s", "_ns", "_per_s", "speedup_ratio", "bytes_copied_bytes")


def science_of(doc, exclude):
    m = doc["repetitions"][0]["motif_metrics"]
    keep = lambda k: not k.endswith(TIMING_SUFFIXES) and k not in exclude
    scalars = {k: v for k, v in m["scalars"].items() if keep(k)}
    events = [(e["kind"], {k: v for k, v in e["fields"].items() if keep(k)}) for e in m.get("events", [])]
    return scalars, events


def main():
    exe, source, scratch, motif = sys.argv[1:5]
    os.makedirs(scratch, exist_ok=True)
    checks = motifs.load_checks(source, motif)
    if checks is not None and not getattr(checks, "DETERMINISTIC", True):
        print(f"skipped: {motif}: {checks.WHY_NOT_DETERMINISTIC}")
        return 77
    exclude = set(getattr(checks, "MODE_DEPENDENT_KEYS", ()))
    got = {}
    for mode in MODES:
        out = os.path.join(scratch, f"{motif}_{mode}.json")
        cmd = [exe, f"--motif={motif}", f"--coupling={mode}", "--size=tiny", "--repetitions=1", "--seed=7",
               "--threads=1", "--set", "run.min_time_s=0", "--set", "coupling.server_threads=1", "--quiet",
               f"--out={out}"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            print(f"FAIL: {' '.join(cmd)} exited {r.returncode}\n{r.stderr[-2000:]}")
            return 1
        with open(out) as f:
            got[mode] = science_of(json.load(f), exclude)
    scalars, events = got["tight"]
    print(f"{motif}: {len(scalars)} science scalars, {len(events)} events compared")
    problems = []
    for mode in MODES[1:]:
        s, e = got[mode]
        for k in sorted(set(scalars) | set(s)):
            if scalars.get(k) != s.get(k):
                problems.append(f"{k}: tight {scalars.get(k)!r} vs {mode} {s.get(k)!r}")
        if events != e:
            first = next((i for i, (a, b) in enumerate(zip(events, e)) if a != b), min(len(events), len(e)))
            problems.append(f"events differ from #{first} ({len(events)} in tight, {len(e)} in {mode}): "
                            f"{events[first] if first < len(events) else None} vs {e[first] if first < len(e) else None}")
    for p in problems:
        print("  " + p)
    print("ok: bit-identical science in tight, semi-tight and loose" if not problems else "FAIL")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
