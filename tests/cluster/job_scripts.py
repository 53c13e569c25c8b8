#!/usr/bin/python3
"""Every job script parses (bash -n) and carries its scheduler's directives;
run_layout.sh refuses an unknown layout with the valid ones. (The Slurm
scripts also run for real in slurm_test.py; PBS and Flux are checked here only.)

Usage: job_scripts.py SOURCE_DIR
"""
import os
import subprocess
import sys

DIRECTIVES = {"slurm": "#SBATCH --nodes=", "pbs": "#PBS -l select=", "flux": "#flux: -N "}


def main():
    jobs = os.path.join(sys.argv[1], "jobs")
    problems, checked = [], 0
    for sched, directive in DIRECTIVES.items():
        names = sorted(os.listdir(os.path.join(jobs, sched)))
        layouts = sorted(os.path.splitext(n)[0] for n in names)
        if layouts != ["dedicated", "node_local", "one_node"]:
            problems.append(f"{sched}: layouts {layouts}")
        for name in names:
            path = os.path.join(jobs, sched, name)
            r = subprocess.run(["bash", "-n", path], capture_output=True, text=True, timeout=30)
            text = open(path).read()
            if r.returncode != 0:
                problems.append(f"{sched}/{name}: {r.stderr.strip()}")
            if directive not in text or "run_layout.sh" not in text or not os.access(path, os.X_OK):
                problems.append(f"{sched}/{name}: lacks {directive!r}, the run_layout.sh call, or the x bit")
            checked += 1
    r = subprocess.run([os.path.join(jobs, "run_layout.sh"), "sideways"], capture_output=True, text=True, timeout=30)
    if r.returncode != 2 or "valid: one_node, node_local, dedicated" not in r.stderr:
        problems.append(f"run_layout.sh sideways: exit {r.returncode}, {r.stderr.strip()!r}")
    if problems:
        print("FAIL: " + " | ".join(problems))
        return 1
    print(f"ok: {checked} job scripts parse and carry their directives; run_layout.sh refuses unknown layouts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
