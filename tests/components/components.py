#!/usr/bin/python3
"""A build with only Kokkos and LibTorch: every optional component off.

Configures and builds `motifbench` in a fresh folder with
MOTIFBENCH_WITH_GRPC/REDIS/MPI/PAPI=OFF (tests and benchmarks off), then
checks what a user of such a build sees:
- --version lists every component as absent; the binary links no gRPC,
  protobuf, hiredis, MPI or PAPI library;
- every mini-app runs tight and none at size tiny, with a valid result whose
  context.components are all false;
- semi-tight and loose, coupling.staging=redis, `motifbench serve`, and a start
  under an MPI launcher each exit 2 with a message naming what the build
  lacks, and write no result;
- `motifbench sweep` runs only the modes this build has.

Usage: components.py SOURCE_DIR SCRATCH_DIR CXX_COMPILER BUILD_TYPE
"""
import json
import os
import re
import shutil
import subprocess
import sys


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def main():
    source, scratch, cxx, build_type = sys.argv[1:5]
    build = os.path.join(scratch, "build")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    env = dict(os.environ, CCACHE_BASEDIR=source, CCACHE_NOHASHDIR="true")
    cfg = ["cmake", "-S", source, "-B", build, "-G", "Ninja", f"-DCMAKE_CXX_COMPILER={cxx}",
           f"-DCMAKE_BUILD_TYPE={build_type}", "-DMOTIFBENCH_BUILD_TESTS=OFF", "-DMOTIFBENCH_BUILD_BENCHMARKS=OFF"]
    cfg += [f"-DMOTIFBENCH_WITH_{c}=OFF" for c in ("GRPC", "REDIS", "MPI", "PAPI")]
    r = sh(cfg, env=env, timeout=300)
    if r.returncode != 0:
        print(f"FAIL: configure\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        return 1
    for c in ("GRPC", "REDIS", "MPI", "PAPI"):
        if f"motifbench: {c} off (MOTIFBENCH_WITH_{c}=OFF)" not in r.stdout:
            print(f"FAIL: configure did not report {c} off\n{r.stdout[-3000:]}")
            return 1
    r = sh(["cmake", "--build", build, "--target", "motifbench", "-j", str(os.cpu_count() or 2)], env=env, timeout=1800)
    if r.returncode != 0:
        print(f"FAIL: build\n{r.stdout[-4000:]}\n{r.stderr[-2000:]}")
        return 1
    exe = os.path.join(build, "motifbench")
    problems = []

    v = sh([exe, "--version"], timeout=60).stdout
    for c in ("grpc", "redis", "mpi", "papi"):
        if not re.search(rf"^\s+{c}\s+no\b", v, re.M):
            problems.append(f"--version does not list {c} as absent:\n{v}")
    # Direct dependencies only: LibTorch itself may pull protobuf or hiredis in.
    needed = sh(["readelf", "-d", exe], timeout=60).stdout
    for lib in ("libgrpc", "libprotobuf", "libhiredis", "libmpi", "libpapi"):
        if lib in needed:
            problems.append(f"the binary links {lib}")

    # --list: a motif's line, then its couplings line.
    listing = sh([exe, "--list"], timeout=60).stdout
    motifs = dict(re.findall(r"^  (\w+) .*\n\s+couplings: ([\w, -]+) \|", listing, re.M))
    if len(motifs) < 6:
        problems.append(f"--list shows {motifs}")
    runs = 0
    for motif, couplings in motifs.items():
        for mode in ("tight", "none"):
            if mode not in couplings.split(", "):
                continue
            out = os.path.join(scratch, f"{motif}_{mode}.json")
            r = sh([exe, f"--motif={motif}", f"--coupling={mode}", "--size=tiny", "--repetitions=1", "--threads=1",
                    "--set", "run.min_time_s=0", "--quiet", f"--out={out}"], timeout=600)
            if r.returncode != 0 or "result: VALID" not in r.stdout + r.stderr:
                problems.append(f"{motif} {mode}: exit {r.returncode}\n{r.stderr[-1500:]}")
                continue
            with open(out) as f:
                comps = json.load(f)["context"]["components"]
            if comps != {"grpc": False, "mpi": False, "papi": False, "redis": False}:
                problems.append(f"{motif} {mode}: context.components = {comps}")
            runs += 1

    def refused(name, cmd, needles, env=None):
        out = os.path.join(scratch, f"refused_{name}.json")
        r = sh(cmd + [f"--out={out}"] if cmd[1] != "serve" else cmd, timeout=120, env=env)
        text = r.stdout + r.stderr
        if r.returncode != 2:
            problems.append(f"{name}: exit {r.returncode}, expected 2\n{text[-1500:]}")
        for n in needles:
            if n not in text:
                problems.append(f"{name}: the message lacks '{n}':\n{text[-1500:]}")
        if os.path.exists(out):
            problems.append(f"{name}: wrote {out}")

    base = [exe, "--motif=digital_replica", "--size=tiny"]
    refused("semi-tight", base + ["--coupling=semi-tight"], ["no grpc", "MOTIFBENCH_WITH_GRPC", "This build runs: tight, none"])
    refused("loose", base + ["--coupling=loose"], ["no grpc", "This build runs: tight, none"])
    refused("staging redis", base + ["--coupling=tight", "--set", "coupling.staging=redis"],
            ["no redis", "memory, shm or file"])
    refused("serve", [exe, "serve", "--listen", "unix:" + os.path.join(scratch, "s.sock")], ["no gRPC"])
    refused("launcher", base + ["--coupling=tight"], ["no MPI", "MOTIFBENCH_MPI=off"],
            env=dict(os.environ, PMI_RANK="0", PMI_SIZE="2"))

    sweep_dir = os.path.join(scratch, "sweep")
    r = sh([exe, "sweep", "--motif=digital_replica", "--size=tiny", f"--out-dir={sweep_dir}", "--repetitions=1",
            "--min-time-s=0"], timeout=600)
    if r.returncode != 0:
        problems.append(f"sweep: exit {r.returncode}\n{r.stdout[-1500:]}{r.stderr[-1500:]}")
    else:
        cells = sorted(f for f in os.listdir(sweep_dir) if f.endswith(".json") and f != "index.json")
        if cells != ["digital_replica_none_tiny.json", "digital_replica_tight_tiny.json"]:
            problems.append(f"sweep wrote {cells}")

    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        return 1
    print(f"a build without gRPC, Redis, MPI and PAPI: {runs} tight/none runs valid, the other modes refused by name")
    return 0


if __name__ == "__main__":
    sys.exit(main())
