#!/usr/bin/python3
"""Prints a side-by-side summary of result files (same motif, different modes).

Usage: summarize.py RESULT.json [RESULT.json ...]
The last file is the reference for the ratio column (e.g. mode none).
"""
import json
import sys


def main():
    docs = []
    for path in sys.argv[1:]:
        try:
            with open(path) as f:
                docs.append((path, json.load(f)))
        except (OSError, ValueError) as e:
            print(f"{path}: cannot read: {e}", file=sys.stderr)
            return 1
    if not docs:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ref_doc = docs[-1][1]
    ref = ref_doc["summary"]["iterations_per_s"].get("mean_per_s")  # absent: nothing was measured
    ratio_head = f"x {ref_doc['run']['coupling']}"
    print(f"\n{'coupling':<12}{'valid':<7}{'steps/s':>10}{ratio_head:>10}{'energy/step':>14}  {'energy method':<14}")
    for path, d in docs:
        s = d["summary"]
        ips = s["iterations_per_s"].get("mean_per_s")
        e = s["energy"]
        if e["energy_j"] is None:
            energy = "unavailable"
        else:
            steps = sum(r["iterations_count"] for r in d["repetitions"]) / max(1, len(d["repetitions"]))
            energy = f"{e['energy_j']['mean_j'] / max(1, steps):.4f} J"
        rate = "-" if ips is None else f"{ips:.1f}"
        ratio = "-" if ips is None or not ref else f"{ips / ref:.2f}"
        print(f"{d['run']['coupling']:<12}{str(d['valid']).lower():<7}{rate:>10}{ratio:>10}{energy:>14}  {e['method']:<14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
