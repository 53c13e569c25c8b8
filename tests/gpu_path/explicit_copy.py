#!/usr/bin/python3
"""The explicit host <-> model copy path, on a CPU machine.

Where the mini-app's Views and the model live in different memory spaces
(Kokkos on a GPU and the model on the host, or the reverse), infer_views()
copies explicitly and times the copies as the phases copy_to_model and
copy_from_model. coupling.tensor_copy=always takes that path with host Views
too. Checked on Digital Replica, tight, size tiny, one seed:
- with tensor_copy=auto there are no copy phases and the tight client copies
  no tensor bytes (surrogate_bytes_copied_bytes == 0: the zero-copy path);
- with tensor_copy=always both copy phases are there, every inference call
  is bracketed by one of each, and their declared bytes are exactly the
  Views' bytes read and written (features: 2 floats per cell in; closure
  fraction: 1 float per cell out);
- the science is bit-identical in both (a copy changes no value).

Usage: explicit_copy.py MOTIFBENCH SCRATCH_DIR
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from determinism.same_science import science_of  # noqa: E402


def run(exe, scratch, mode):
    out = os.path.join(scratch, f"dr_tight_copy_{mode}.json")
    cmd = [exe, "--motif=digital_replica", "--coupling=tight", "--size=tiny", "--repetitions=1", "--seed=3",
           "--threads=1", "--set", "run.min_time_s=0", "--set", f"coupling.tensor_copy={mode}", "--quiet",
           f"--out={out}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}\n{r.stderr[-2000:]}")
    with open(out) as f:
        return json.load(f)


def phases(doc):
    return doc["repetitions"][0]["phases"]


def main():
    exe, scratch = sys.argv[1:3]
    os.makedirs(scratch, exist_ok=True)
    plain, copied = run(exe, scratch, "auto"), run(exe, scratch, "always")
    problems = []
    p_plain, p_copied = phases(plain), phases(copied)
    for name in ("copy_to_model", "copy_from_model"):
        if name in p_plain:
            problems.append(f"tensor_copy=auto on host Views has a {name} phase (it should copy nothing)")
        if name not in p_copied:
            problems.append(f"tensor_copy=always has no {name} phase")
    scalars_plain = plain["repetitions"][0]["motif_metrics"]["scalars"]
    if scalars_plain.get("surrogate_bytes_copied_bytes") != 0:
        problems.append(f"zero-copy path copied {scalars_plain.get('surrogate_bytes_copied_bytes')} bytes")
    if not problems:
        to_m, from_m = p_copied["copy_to_model"], p_copied["copy_from_model"]
        calls = p_copied["infer"]["calls_count"]
        if to_m["calls_count"] != from_m["calls_count"] or to_m["calls_count"] != calls:
            problems.append(f"copy phases counted {to_m['calls_count']} and {from_m['calls_count']} times for "
                            f"{calls} inference phases")
        # Bytes per copied cell: read + write of 2 floats in, of 1 float out.
        b_in, b_out = to_m["work"]["bytes"], from_m["work"]["bytes"]
        if b_in != 2 * b_out:
            problems.append(f"copy_to_model declared {b_in} bytes, copy_from_model {b_out}: expected 2:1 "
                            "(2 features in, 1 fraction out per cell)")
        items = to_m["work"]["items_count"]
        if b_in != items * 2 * 2 * 4:
            problems.append(f"copy_to_model: {b_in} bytes for {items} rows; expected 16 per row")
        print(f"copy_to_model: {to_m['calls_count']} calls, {items:.0f} rows, {b_in:.0f} B; "
              f"copy_from_model: {b_out:.0f} B; inference phases: {calls}")
    if science_of(plain, set()) != science_of(copied, set()):
        problems.append("the science differs between tensor_copy=auto and always")
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        return 1
    print("explicit copy path: timed, counted, science unchanged; zero-copy path copies 0 bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
