#!/usr/bin/python3
"""The installed package and an out-of-tree mini-app.

Usage: plugin_test.py BUILD_DIR SOURCE_DIR SCRATCH_DIR CXX_COMPILER
Installs BUILD_DIR with `cmake --install` into SCRATCH_DIR/prefix, builds
examples/plugin_miniapp against it with find_package(motifbench), runs the
plugin with the installed executable in every coupling mode (each result
VALID and accepted by validate), and checks that bad plugins are refused with
a clear message (exit 2, no result).
"""
import json
import os
import shutil
import subprocess
import sys


def sh(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=kw.pop("timeout", 600), **kw)


def main():
    build, source, scratch, cxx = sys.argv[1:5]
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    prefix, plugin_build = os.path.join(scratch, "prefix"), os.path.join(scratch, "plugin-build")
    problems = []
    r = sh(["cmake", "--install", build, "--prefix", prefix])
    if r.returncode != 0:
        print(f"FAIL install: {r.stdout[-1000:]} {r.stderr[-1000:]}")
        return 1
    for f in ("bin/motifbench", "include/motifbench/plugin.hpp", "include/motifbench/motif.hpp",
              "lib/cmake/motifbench/motifbenchConfig.cmake", "share/motifbench/results-schema/result.schema.json",
              "share/motifbench/scripts/plot_results.py", "share/motifbench/scripts/ci_regression.sh"):
        if not os.path.exists(os.path.join(prefix, f)):
            problems.append(f"not installed: {f}")
    # No private header leaks into the public include folder.
    leaked = [f for f in os.listdir(os.path.join(prefix, "include", "motifbench")) if not f.endswith(".hpp")]
    if leaked:
        problems.append(f"unexpected files in include/motifbench: {leaked}")
    r = sh(["cmake", "-S", os.path.join(source, "examples", "plugin_miniapp"), "-B", plugin_build, "-G", "Ninja",
            f"-DCMAKE_PREFIX_PATH={prefix}", f"-DCMAKE_CXX_COMPILER={cxx}"])
    if r.returncode == 0:
        r = sh(["cmake", "--build", plugin_build])
    if r.returncode != 0:
        print(f"FAIL building the out-of-tree plugin: {r.stdout[-2000:]} {r.stderr[-2000:]}")
        return 1
    exe = os.path.join(prefix, "bin", "motifbench")
    plugin = os.path.join(plugin_build, "libheat_plugin.so")
    r = sh([exe, f"--plugin={plugin}", "--list"])
    if "heat_plugin" not in r.stdout:
        problems.append(f"--list with the plugin lacks heat_plugin: {r.stdout[-300:]} {r.stderr[-300:]}")
    for coupling in ("tight", "semi-tight", "loose", "none"):
        out = os.path.join(scratch, f"heat_{coupling}.json")
        r = sh([exe, f"--plugin={plugin}", "--motif=heat_plugin", f"--coupling={coupling}", "--size=tiny",
                f"--out={out}"])
        v = sh([exe, "validate", out]) if os.path.exists(out) else None
        if r.returncode != 0 or "result: VALID" not in r.stdout or v is None or v.returncode != 0:
            problems.append(f"{coupling}: exit {r.returncode}, {r.stderr[-300:]!r}")
            continue
        doc = json.load(open(out))
        scalars = doc["repetitions"][0]["motif_metrics"]["scalars"]
        if coupling != "none" and "surrogate_mean_abs_error_fraction" not in scalars:
            problems.append(f"{coupling}: no surrogate error in the result")
        print(f"ok {coupling}: VALID, {scalars}")
    # The environment variable reaches sweep too.
    env = dict(os.environ, MOTIFBENCH_PLUGINS=plugin)
    r = sh([exe, "sweep", "--motif=heat_plugin", "--coupling=tight", "--size=tiny", "--repetitions=1",
            f"--out-dir={scratch}/sweep"], env=env)
    if r.returncode != 0:
        problems.append(f"sweep with MOTIFBENCH_PLUGINS: exit {r.returncode}, {r.stderr[-300:]!r}")
    # Bad plugins: a clear message, exit 2, no result.
    out = os.path.join(scratch, "bad.json")
    libm = next((p for p in ("/lib/x86_64-linux-gnu/libm.so.6", "/lib/aarch64-linux-gnu/libm.so.6", "/usr/lib64/libm.so.6")
                 if os.path.exists(p)), None)
    cases = [("missing file", [f"--plugin={scratch}/nope.so"], "is not a file"),
             ("same plugin twice", [f"--plugin={plugin}", f"--plugin={plugin}"], "already exists"),
             ("not a shared object", [f"--plugin={os.path.join(source, 'README.md')}"], "cannot be loaded")]
    if libm:
        cases.append(("a library that is not a plugin", [f"--plugin={libm}"], "not a motifbench plugin"))
    for name, args, expect in cases:
        r = sh([exe] + args + ["--motif=heat_plugin", "--size=tiny", f"--out={out}"], timeout=60)
        if r.returncode != 2 or expect not in r.stderr or os.path.exists(out):
            problems.append(f"{name}: exit {r.returncode}, {r.stderr.strip()[-200:]!r}")
    if problems:
        print("FAIL: " + " | ".join(problems))
        return 1
    print("ok: installed package, out-of-tree plugin in every coupling mode, bad plugins refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
