#!/usr/bin/python3
"""Bad input must give a clear message naming the valid choices, a non-zero
exit, no crash (no signal, no abort), no hang, and no result file.

Usage: bad_input.py MOTIFBENCH SOURCE_DIR SCRATCH_DIR
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import motifs  # noqa: E402


def measured_looking(doc):
    """Figures of a failed run that read as measured when nothing was: a
    repetition counted with no measured time, or run-wide figures without
    a counted repetition."""
    problems = []
    reps = doc.get("repetitions", [])
    for rep in reps:
        if not rep.get("measured_s"):
            problems.append(f"repetition {rep.get('index')} counted with measured_s {rep.get('measured_s')!r}")
    summary = doc.get("summary", {})
    if not reps:
        if set(summary.get("measured_s", {})) != {"samples_count"}:
            problems.append(f"no repetition, but summary.measured_s {summary.get('measured_s')}")
        if summary.get("harness_overhead", {}).get("overhead_fraction") is not None:
            problems.append("no repetition, but a harness overhead fraction")
        if summary.get("energy", {}).get("energy_j") is not None:
            problems.append("no repetition, but an energy figure")
    return problems


def main():
    exe, source, scratch = sys.argv[1:4]
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    out = os.path.join(scratch, "result.json")
    malformed = os.path.join(scratch, "malformed.json")
    with open(malformed, "w") as f:
        f.write('{"grid": {"nx": 32,,}')
    duplicate_file = os.path.join(scratch, "duplicate.json")
    with open(duplicate_file, "w") as f:
        f.write('{"grid.nx": 32, "grid.nx": 64}')
    deep_file = os.path.join(scratch, "deep.json")
    with open(deep_file, "w") as f:
        f.write('{"a": ' * 200000 + '1' + '}' * 200000)
    a_dir = os.path.join(scratch, "a_dir")
    os.makedirs(a_dir, exist_ok=True)
    fifo = os.path.join(scratch, "fifo")
    os.mkfifo(fifo)
    target = os.path.join(scratch, "target.txt")
    with open(target, "w") as f:
        f.write("keep me\n")
    untouched = [target]
    link = os.path.join(scratch, "link.json")
    os.symlink(target, link)
    unknown_key_file = os.path.join(scratch, "unknown_key.json")
    with open(unknown_key_file, "w") as f:
        f.write('{"grid": {"nz": 32}}')
    base = ["--size=tiny", f"--out={out}"]
    dr = ["--motif=digital_replica"]
    # The motifs come from the tool; each mini-app's own cases from its folder.
    names = motifs.list_motifs(exe)
    cases = [
        ("unknown motif", ["--motif=warp_drive"] + base, "valid motifs: " + ", ".join(names)),
        ("missing motif", base, "valid motifs"),
        ("unknown coupling", dr + ["--coupling=telepathic"] + base, "valid couplings: tight, semi-tight, loose, none"),
        ("unknown size", dr + ["--size=huge", f"--out={out}"], "valid sizes: tiny, small, medium, large"),
        ("unknown config key", dr + base + ["--set", "grid.nz=4"], "valid keys:"),
        ("set without =", dr + base + ["--set", "grid.nx"], "key=value"),
        ("zero size", dr + base + ["--set", "grid.nx=0"], "expected an integer in [4,"),
        ("negative size", dr + base + ["--set", "grid.ny=-8"], "expected an integer in [4,"),
        ("non-numeric value", dr + base + ["--set", "sim.dt=fast"], "expected a number in"),
        ("bad choice", dr + base + ["--set", "surrogate.activation=sigmoid"], "one of tanh, relu, gelu"),
        ("zero repetitions", dr + base + ["--repetitions=0"], "run.repetitions"),
        ("malformed config file", dr + base + [f"--config={malformed}"], "not valid JSON"),
        ("missing config file", dr + base + [f"--config={scratch}/nope.json"], "cannot read config file"),
        ("unknown key in config file", dr + base + [f"--config={unknown_key_file}"], "valid keys:"),
        ("unwritable --out", dr + ["--size=tiny", f"--out={scratch}/no/such/dir/r.json"], "cannot write --out"),
        ("unknown flag", dr + base + ["--frobnicate=1"], "valid options:"),
        ("missing TorchScript model", dr + base + ["--set", f"surrogate.path={scratch}/missing.pt"],
         "cannot load TorchScript model"),
        ("a file that is not TorchScript", dr + base + ["--set", f"surrogate.path={unknown_key_file}"],
         "not a ZIP archive"),
        # Outputs never destroy what is there, and are checked before the run.
        ("--out is a directory", dr + ["--size=tiny", f"--out={a_dir}"], "is a directory"),
        ("--out is a FIFO", dr + ["--size=tiny", f"--out={fifo}"], "not a regular file"),
        ("--out is a symlink", dr + ["--size=tiny", f"--out={link}"], "symbolic link"),
        ("--config is a directory", dr + base + [f"--config={a_dir}"], "is a directory"),
        ("output.model in a missing folder", dr + base + ["--set", f"output.model={scratch}/no/such/m.pt"],
         "output.model: the folder"),
        # Numbers parse one way everywhere; duplicates are refused.
        ("duplicate key in a config file", dr + base + [f"--config={duplicate_file}"], "twice"),
        ("same --set key twice", dr + base + ["--set", "grid.nx=32", "--set", "grid.nx=64"], "twice"),
        ("leading space in a number", dr + base + ["--set", "grid.nx= 32"], "without spaces"),
        ("trailing space in a number", dr + base + ["--set", "grid.nx=32 "], "without spaces"),
        ("seed beyond 64 bits", dr + base + ["--seed=18446744073709551616"], "run.seed"),
        ("more requests in flight than the servers admit",
         dr + base + ["--coupling=loose", "--set", "coupling.max_inflight=4096", "--set", "coupling.server_max_queue=0"],
         "exceed what 1 server(s) admit"),
        ("malformed model device", dr + base + ["--set", "coupling.device=gpu0"], "valid: auto, cpu, cuda, cuda:N"),
        ("absent model device", dr + base + ["--set", "coupling.device=cuda:99"], "device 'cuda:99'"),
        ("NCCL without models on a GPU", dr + base + ["--coupling=none", "--set", "coupling.reducer=nccl"],
         "valid here: auto, mpi"),
        ("unknown tensor copy mode", dr + base + ["--set", "coupling.tensor_copy=never"], "one of auto, always"),
        ("unknown inference kernels", dr + base + ["--set", "coupling.kernels=blas"], "one of auto, libtorch"),
        ("config nested 200000 deep", dr + base + [f"--config={deep_file}"], "nests deeper"),
        # Addresses are checked before anything connects or listens: a library
        # would wrap port 99999 to another port, or read "abc" as port 0.
        ("--server port beyond 65535", dr + base + ["--coupling=loose", "--server=127.0.0.1:99999"],
         "the port must be in [1, 65535]"),
        ("--server port not a number", dr + base + ["--coupling=loose", "--server=127.0.0.1:abc"],
         "valid: host:port, [v6]:port or unix:/path"),
        ("--server with an empty Unix path", dr + base + ["--coupling=semi-tight", "--server=unix:"], "the path is empty"),
        ("--server IPv6 without brackets", dr + base + ["--coupling=loose", "--server=::1:5000"], "goes in brackets"),
        ("--redis port beyond 65535", dr + base + ["--coupling=loose", "--redis=127.0.0.1:70000"],
         "valid: host:port or [v6]:port"),
        ("serve --listen port beyond 65535", ["serve", "--listen", "127.0.0.1:99999"], "the port must be in [0, 65535]"),
        ("serve --listen without a port", ["serve", "--listen", "localhost"], "valid: host:port, [v6]:port or unix:/path"),
        # Every command answers an unknown flag with its own options.
        ("serve: unknown flag", ["serve", "--frobnicate"], "valid options: --help --listen"),
        ("compare: unknown flag", ["compare", "--frobnicate", out, out], "valid options: --help BASE NEW"),
        ("sweep: unknown flag", ["sweep", "--frobnicate"], "valid options: --help --motif"),
        ("validate a directory", ["validate", a_dir], "is a directory"),
        ("validate a result nested 200000 deep", ["validate", deep_file], "nested too deep"),
    ]
    # Sizes whose cell counts overflow 32 bits or whose memory exceeds the
    # machine are among each mini-app's cases: refused before anything is
    # allocated, naming the estimate.
    for name in names:
        checks = motifs.load_checks(source, name)
        for label, args, expect in getattr(checks, "BAD_INPUT", []):
            cases.append((f"{name}: {label}", [f"--motif={name}"] + base + args, expect))
    # Edge values that are legal must run, not crash (a replay buffer smaller
    # than one drift check once erased a vector with first > last).
    must_run = [
        ("replay buffer smaller than a check", dr + base + ["--set", "retrain.buffer=16", "--repetitions=1"]),
        ("a tiny minimum time is kept as given", dr + base + ["--min-time-s=1e-7", "--repetitions=1"]),
    ]
    failed = 0
    for name, args, expect in cases:
        if os.path.exists(out):
            os.remove(out)
        try:
            r = subprocess.run([exe] + args, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            print(f"FAIL {name}: hung")
            failed += 1
            continue
        msg = r.stdout + r.stderr
        problems = []
        if r.returncode == 0:
            problems.append("exit code 0")
        if r.returncode < 0 or r.returncode >= 128:
            problems.append(f"crashed (status {r.returncode})")
        if expect not in msg:
            problems.append(f"message lacks {expect!r}")
        if os.path.exists(out):
            import json
            try:
                doc = json.load(open(out))
                if doc.get("valid") is not False:
                    problems.append("wrote a result that looks valid")
                problems += measured_looking(doc)
            except ValueError:
                problems.append("left a malformed result file")
        leftovers = [f for f in os.listdir(scratch) if ".tmp." in f or "probe" in f]
        if leftovers:
            problems.append(f"left {leftovers}")
        if problems:
            failed += 1
            print(f"FAIL {name}: {'; '.join(problems)}\n  output: {msg.strip()[:400]}")
        else:
            print(f"ok   {name}: exit {r.returncode}: {msg.strip().splitlines()[-1][:150]}")
    for name, args in must_run:
        r = subprocess.run([exe] + args, capture_output=True, text=True, timeout=300)
        problem = r.returncode != 0 or "result: VALID" not in r.stdout
        if not problem and "--min-time-s=1e-7" in args:
            import json
            doc = json.load(open(out))
            problem = doc["run"]["config_requested"].get("run.min_time_s") != "1e-7"
        if problem:
            failed += 1
            print(f"FAIL {name}: exit {r.returncode}\n  output: {(r.stdout + r.stderr).strip()[-400:]}")
        else:
            print(f"ok   {name}: runs, VALID")
    for path in untouched:
        if open(path).read() != "keep me\n" or not os.path.islink(link):
            failed += 1
            print(f"FAIL {path} or the link to it was changed")
    print(f"{len(cases) + len(must_run) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
