#!/usr/bin/python3
"""Faithfulness checks: the AI decision must change what a workflow does, and
the motif's science metric must show it against a baseline of equal cost that
takes no AI decision. Each mini-app declares its check in
miniapps/<motif>/checks.py: either one_seed(run, seed) -> (won, line) with
SEEDS, WINS_NEEDED and CLAIM (the AI must win on at least WINS_NEEDED of SEEDS, which
are the first ten, not chosen to pass), or science(run) -> (ok, lines); size
tiny; run(name, args, seed=1) runs one configuration.

Usage: science_checks.py MOTIFBENCH SOURCE_DIR SCRATCH_DIR MOTIF [SIZE]
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import motifs  # noqa: E402


def main():
    exe, source, scratch, motif = sys.argv[1:5]
    # The slower tier (label small_seeds): size small on SEEDS_SMALL (default
    # the first five), the AI winning on WINS_NEEDED_SMALL (default 4) of them.
    size = sys.argv[5] if len(sys.argv) > 5 else "tiny"
    os.makedirs(scratch, exist_ok=True)
    checks = motifs.load_checks(source, motif)
    if checks is None or not (hasattr(checks, "science") or hasattr(checks, "one_seed")):
        print(f"FAIL: miniapps/{motif}/checks.py declares neither one_seed(run, seed) nor science(run)")
        return 1

    def run(name, args, seed=1):
        out = os.path.join(scratch, f"{motif}_{name}_{size}_seed{seed}.json")
        r = subprocess.run([exe, f"--motif={motif}", f"--size={size}", "--repetitions=1", f"--seed={seed}", "--threads=1",
                            "--quiet", f"--out={out}"] + args, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            print(f"FAIL: {name} exited {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
            sys.exit(1)
        with open(out) as f:
            return json.load(f)

    if hasattr(checks, "one_seed"):
        # The many-seed protocol: one_seed(run, seed) -> (won, line) over
        # SEEDS, passing when the AI wins on at least WINS_NEEDED of them.
        seeds = checks.SEEDS if size == "tiny" else getattr(checks, "SEEDS_SMALL", range(1, 6))
        needed = checks.WINS_NEEDED if size == "tiny" else getattr(checks, "WINS_NEEDED_SMALL", 4)
        results = [checks.one_seed(run, seed) for seed in seeds]
        wins = sum(won for won, _ in results)
        lines = [line for _, line in results]
        lines.append(f"the AI won on {wins} of {len(results)} seeds at size {size} (needed {needed}): {checks.CLAIM}")
        ok = wins >= needed
    else:
        ok, lines = checks.science(run)
    for line in lines:
        print(line)
    print("ok" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
