#!/usr/bin/python3
"""Deterministic science: one seed gives bit-identical science metrics in
tight, semi-tight and loose. The run is bounded by iterations
(run.min_time_s=0), warm-up is by iterations (the default), and every mode
uses one thread, so the three runs take the same steps on the same data with
the same model; only where the model runs differs.

A mini-app's checks.py may add MODE_VARIANTS (options under which the three
modes must again agree) and EQUIVALENT_RUNS (options that must not change the
science at all, compared in tight with the default or a variant).

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
    def run(mode, extra, tag):
        out = os.path.join(scratch, f"{motif}_{mode}_{tag}.json")
        cmd = [exe, f"--motif={motif}", f"--coupling={mode}", "--size=tiny", "--repetitions=1", "--seed=7",
               "--threads=1", "--set", "run.min_time_s=0", "--set", "coupling.server_threads=1", "--quiet",
               f"--out={out}"] + extra
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}\n{r.stderr[-2000:]}")
        with open(out) as f:
            return science_of(json.load(f), exclude)

    def differences(a, b, name_a, name_b):
        (scalars, events), (s, e) = a, b
        found = []
        for k in sorted(set(scalars) | set(s)):
            if scalars.get(k) != s.get(k):
                found.append(f"{k}: {name_a} {scalars.get(k)!r} vs {name_b} {s.get(k)!r}")
        if events != e:
            first = next((i for i, (x, y) in enumerate(zip(events, e)) if x != y), min(len(events), len(e)))
            found.append(f"events differ from #{first} ({len(events)} in {name_a}, {len(e)} in {name_b}): "
                         f"{events[first] if first < len(events) else None} vs {e[first] if first < len(e) else None}")
        return found

    # The default in every mode; then the mini-app's variants (checks.py):
    # MODE_VARIANTS, (label, args) compared across the modes like the default;
    # EQUIVALENT_RUNS, (label, args, variant) that must give the science of the
    # variant ("default" or a MODE_VARIANTS label) in tight.
    problems = []
    tight_of = {}
    try:
        for label, extra in [("default", [])] + list(getattr(checks, "MODE_VARIANTS", [])):
            got = {mode: run(mode, extra, label.replace(" ", "_")) for mode in MODES}
            scalars, events = got["tight"]
            print(f"{motif} ({label}): {len(scalars)} science scalars, {len(events)} events compared across modes")
            for mode in MODES[1:]:
                problems += [f"{label}: {d}" for d in differences(got["tight"], got[mode], "tight", mode)]
            tight_of[label] = got["tight"]
        for label, extra, variant in getattr(checks, "EQUIVALENT_RUNS", []):
            print(f"{motif} ({label}): compared with '{variant}' in tight")
            problems += [f"{label}: {d}" for d in
                         differences(tight_of[variant], run("tight", extra, label.replace(" ", "_")), variant, label)]
    except RuntimeError as e:
        print(f"FAIL: {e}")
        return 1
    for p in problems:
        print("  " + p)
    print("ok: bit-identical science in tight, semi-tight and loose (and in each equivalent run)"
          if not problems else "FAIL")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
