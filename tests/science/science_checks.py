#!/usr/bin/python3
"""Faithfulness checks: the AI decision must change what a workflow does, and
the motif's science metric must show it against a baseline of equal cost that
takes no AI decision. Each mini-app declares its check in
miniapps/<motif>/checks.py (function science); size tiny; run(name, args,
seed=1) runs one configuration (a check may loop over many seeds).

Usage: science_checks.py MOTIFBENCH SOURCE_DIR SCRATCH_DIR MOTIF
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import motifs  # noqa: E402


def main():
    exe, source, scratch, motif = sys.argv[1:5]
    os.makedirs(scratch, exist_ok=True)
    checks = motifs.load_checks(source, motif)
    if checks is None or not hasattr(checks, "science"):
        print(f"FAIL: miniapps/{motif}/checks.py declares no science(run)")
        return 1

    def run(name, args, seed=1):
        out = os.path.join(scratch, f"{motif}_{name}_seed{seed}.json")
        r = subprocess.run([exe, f"--motif={motif}", "--size=tiny", "--repetitions=1", f"--seed={seed}", "--threads=1",
                            "--quiet", f"--out={out}"] + args, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            print(f"FAIL: {name} exited {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
            sys.exit(1)
        with open(out) as f:
            return json.load(f)

    ok, lines = checks.science(run)
    for line in lines:
        print(line)
    print("ok" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
