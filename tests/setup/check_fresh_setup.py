#!/usr/bin/python3
"""Checks that scripts/packages.txt is enough on a bare Debian 12.

1. Asks apt what it would install on a system with NO packages at all
   (apt-get -s with an empty dpkg status file), so the list must pull in
   everything by itself, and that the simulation succeeds.
2. Audits what this build really used: every CMake package directory and
   program in CMakeCache.txt, every pkg-config module, the runtime programs
   and the Python modules the scripts import. Each file's owning Debian package
   (dpkg -S) must be among the packages that simulation would install.

Exit 0 when both hold, 1 with the missing packages named, 77 (skip) when apt
has no package lists to simulate with (run apt-get update first).
Usage: check_fresh_setup.py SOURCE_DIR BUILD_DIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


def packages(src):
    out = []
    with open(os.path.join(src, "scripts", "packages.txt")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def simulate(pkgs):
    with tempfile.NamedTemporaryFile("w", suffix=".status") as empty:
        cmd = ["apt-get", "-s", "-o", "Dir::State::status=" + empty.name, "install", "--no-install-recommends"] + pkgs
        p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        if "Unable to locate package" in p.stderr or "has no installation candidate" in p.stderr:
            # Distinguish "no lists" from "a wrong name": with lists, apt knows bash.
            probe = subprocess.run(["apt-cache", "show", "bash"], capture_output=True, text=True)
            if probe.returncode != 0 or not probe.stdout.strip():
                print("SKIP: apt has no package lists here (run apt-get update); cannot simulate a bare system")
                sys.exit(SKIP)
        print("FAIL: apt-get -s on an empty system failed:\n" + p.stderr[-3000:])
        sys.exit(1)
    inst = set()
    for line in p.stdout.splitlines():
        m = re.match(r"Inst (\S+)", line)
        if m:
            inst.add(m.group(1).split(":")[0])
    return inst


def owners(path):
    """Every package dpkg says owns the path (a directory such as /usr/include
    has many: any other package installed here may be among them)."""
    real = os.path.realpath(path)
    for candidate in (path, real):
        p = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if p.returncode == 0:
            found = []
            for line in p.stdout.splitlines():
                if line.startswith("diversion by "):
                    continue
                # "pkg:arch, pkg2: /path"
                names = line.rsplit(": ", 1)[0]
                found += [n.strip().split(":")[0] for n in names.split(",") if n.strip()]
            if found:
                return found
    return []


def used_files(build):
    """(what, path) pairs for everything the configured build found."""
    files = []
    cache = os.path.join(build, "CMakeCache.txt")
    with open(cache) as f:
        for line in f:
            m = re.match(r"([A-Za-z0-9_]+)_DIR:PATH=(/\S+)", line)
            if m and os.path.isdir(m.group(2)):
                files.append(("find_package(" + m.group(1) + ")", m.group(2)))
                continue
            m = re.match(r"(MOTIFBENCH_[A-Z_]+|PKG_CONFIG_EXECUTABLE|CMAKE_CXX_COMPILER|CMAKE_MAKE_PROGRAM"
                         r"|MPI_CXX_COMPILER|Protobuf_PROTOC_EXECUTABLE):FILEPATH=(/\S+)", line)
            if m and os.path.isfile(m.group(2)):
                files.append((m.group(1), m.group(2)))
    # pkg-config modules (pkg_check_modules) resolve to .pc files.
    for mod in ("hiredis", "papi"):
        p = subprocess.run(["pkg-config", "--variable=pcfiledir", mod], capture_output=True, text=True)
        if p.returncode == 0 and p.stdout.strip():
            files.append(("pkg-config " + mod, os.path.join(p.stdout.strip(), mod + ".pc")))
        else:
            files.append(("pkg-config " + mod, "<not found>"))
    # Programs the harness and tests start at run time.
    for prog in ("redis-server", "redis-benchmark", "mpiexec.mpich", "ninja", "ccache", "git", "openssl", "sbatch", "slurmctld", "slurmd", "munged"):
        path = shutil.which(prog) or "<not found: " + prog + ">"
        files.append(("program " + prog, path))
    # The BLAS that LibTorch must get (OpenBLAS, not the reference BLAS).
    files.append(("OpenBLAS", "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0"
                  if os.uname().machine == "x86_64" else "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0"))
    # Python modules the scripts and tests import, under Debian's interpreter.
    for mod in ("jsonschema", "matplotlib"):
        p = subprocess.run(["/usr/bin/python3", "-c", "import %s; print(%s.__file__)" % (mod, mod)],
                           capture_output=True, text=True)
        files.append(("python module " + mod, p.stdout.strip() if p.returncode == 0 else "<not importable>"))
    return files


def main():
    src, build = sys.argv[1], sys.argv[2]
    pkgs = packages(src)
    inst = simulate(pkgs)
    print("apt would install %d packages on an empty system for the %d listed" % (len(inst), len(pkgs)))
    problems = []
    for what, path in used_files(build):
        if path.startswith("<"):
            problems.append("%s: %s" % (what, path))
            continue
        pkgs_of = owners(path)
        known = [p for p in pkgs_of if p in inst]
        if not pkgs_of:
            problems.append("%s: %s belongs to no Debian package" % (what, path))
        elif not known:
            problems.append("%s: %s comes from '%s', which a bare system would not get from scripts/packages.txt"
                            % (what, path, "', '".join(pkgs_of)))
        else:
            print("  ok  %-36s %s (%s)" % (what, path, known[0]))
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("PASS: every dependency the build and tests use is installed by scripts/setup.sh on a bare Debian 12")


if __name__ == "__main__":
    main()
