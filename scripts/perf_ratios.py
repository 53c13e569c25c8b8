#!/usr/bin/python3
"""Runs the performance benchmarks and prints each ratio beside its floor.

Usage: scripts/perf_ratios.py [--build DIR] [--repetitions N] [--min-time S]
                              [--motif-runs N] [--motif-size SIZE] [--json FILE] [--gate]
                              [--cpu-wakeup-latency-us US]

Runs the benchmark binaries of a build (default build/default: Release, as
the figures in the README), each benchmark N times (default 5; each
repetition interleaves the two sides of its ratio), and prints one row per
ratio: min / median / max over the repetitions, the floor, and whether the
median meets it. Then N interleaved pairs of Digital Replica runs (tight and
none, default settings) give the result's own figures: the simulate phase's
stream_copy_fraction, tight's speed over none's, and tight's CPU seconds
over wall seconds x threads. --json writes the same rows as JSON. The exit status is 0
whatever the figures say (shared machines are noisy; read them), 1 when a
benchmark did not run or reported no figure, and with --gate also 1 when a
median misses its floor.

--cpu-wakeup-latency-us holds that limit on the machine's idle CPUs while the
script runs (Linux PM QoS through /dev/cpu_dma_latency, as motifbench's
run.cpu_wakeup_latency_us does, which the Digital Replica runs are given too):
0 keeps idle CPUs polling, so a thread woken on one resumes at once. Both
sides of every ratio run under it; the header line says whether it was held.
"""
import argparse
import glob
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import tempfile

# (binary under the build folder, benchmark filter)
BINARIES = {
    "kernels": ("bench/motifbench_bench_kernels", "BM_"),
    "tight": ("surrogates/motifbench_bench_tight", "BM_TightVsBareForward"),
    "transport": ("bench/motifbench_bench_transport",
                  "BM_SemiTightVsTightLargeBatch|BM_SemiTightPipelinedVsTight/16384/16/|BM_SemiTightBatch1VsPingPong|"
                  "BM_ShmVsMemoryStorePutGet|"
                  "BM_UnixPingPongAfterWork"),
}

# (ratio, binary, benchmark name without its options, case, counter, floor,
#  ">=" or "<=", extra counters reported as medians). A benchmark row's floor
# is the counter in which the benchmark states it; a motif row's, a number.
KERNEL_EXTRA = ["kernel_GBps", "stream_copy_GBps"]
# BM_SemiTightVsTightLargeBatch's (rows, calls per block, case): a stream of
# batches, and one call between other work.
SEMI_TIGHT_CASES = ((16384, 8, "16384 rows, streamed (blocks of 8)"),
                    (16384, 1, "16384 rows, between other work"),
                    (262144, 1, "262144 rows, between other work"))
ROWS = [
    (f"{kernel} vs STREAM copy", "kernels", f"{bench}/{arg}", f"{size} ({case})", "stream_fraction", "floor", ">=",
     KERNEL_EXTRA)
    for kernel, bench, sizes in (
        ("Digital Replica predict", "BM_DrPredict", (("128", "128^2"), ("512", "512^2"))),
        ("Digital Replica apply_closure", "BM_DrApplyClosure", (("128", "128^2"), ("512", "512^2"))),
        ("Inverse Design Jacobi sweeps", "BM_IdJacobi",
         (("48/400", "48^2, 400 sweeps a call"), ("128/2000", "128^2, 2000 sweeps a call"))))
    for size, (arg, case) in zip(("small", "medium"), sizes)
] + [
    ("tight inference vs sgemm + vectorised tanh forward", "tight", f"BM_TightVsBareForward/{rows}/{width}", case,
     "tight_speed_vs_blas", "blas_floor", ">=", extra + ["tight_speed_vs_blas_scalar_tanh"])
    for rows, width, case, extra in (
        (16384, 32, "small (16384 rows)", ["tight_GFLOPps", "blas_GFLOPps", "tight_inferences_per_s"]),
        (262144, 32, "medium (262144 rows)", ["tight_GFLOPps", "blas_GFLOPps", "tight_inferences_per_s"]),
        (1024, 16, "tiny (1024 rows, 16 wide)", ["tight_GFLOPps", "blas_GFLOPps", "tight_inferences_per_s"]),
        (1, 32, "batch 1", ["tight_inferences_per_s"]))
] + [
    ("semi-tight (shared memory) vs tight speed", "transport", f"BM_SemiTightVsTightLargeBatch/{rows}/{block}", case,
     "shm_over_tight_speed", "floor_at_least", ">=",
     ["tight_us", "shm_us", "server_compute_p50_us", "request_leg_p50_us", "reply_leg_p50_us", "client_cpu_us",
      "tight_first_us", "tight_rest_us", "shm_first_us", "shm_rest_us", "placed", "tight_cpu_time_ratio"])
    for rows, block, case in SEMI_TIGHT_CASES
] + [
    # The same benchmark's calls with coupling.poll_ahead on both sides, interleaved.
    ("semi-tight (shared memory, coupling.poll_ahead) vs tight speed", "transport",
     f"BM_SemiTightVsTightLargeBatch/{rows}/{block}", case, "ahead_over_tight_speed", "floor_at_least", ">=",
     ["ahead_us", "ahead_server_compute_p50_us", "ahead_request_leg_p50_us", "ahead_reply_leg_p50_us",
      "ahead_client_cpu_us", "ahead_first_us", "ahead_rest_us", "ahead_rest_over_tight_rest"])
    for rows, block, case in SEMI_TIGHT_CASES
] + [
    # Two calls in flight from two clients to a server that computes one at a time.
    ("semi-tight (shared memory, 2 calls in flight) vs tight speed", "transport",
     "BM_SemiTightPipelinedVsTight/16384/16", "16384 rows, blocks of 16", "pipelined_over_tight_speed",
     "floor_at_least", ">=", ["tight_us", "pipelined_us", "server_compute_p50_us", "server_queue_p50_us",
                              "server_busy_share", "roundtrip_p50_us", "placed"]),
    ("semi-tight batch-1 round trip vs Unix-socket ping-pong", "transport", "BM_SemiTightBatch1VsPingPong",
     "batch 1", "shm_over_pingpong", "floor_at_most", "<=",
     ["semi_tight_shm_us", "unix_pingpong_us", "semi_tight_shm_no_poll_us", "semi_tight_shm_unary_us",
      "server_compute_p50_us", "request_leg_p50_us", "reply_leg_p50_us"]),
    ("shared-memory store vs memory store, put + get", "transport", "BM_ShmVsMemoryStorePutGet/1024", "1 KiB",
     "shm_over_memory", "floor_at_most", "<=", ["shm_put_get_ns", "memory_put_get_ns"]),
    # Whole runs of motifbench (--motif-runs), default settings: the result's own figures.
    ("Digital Replica simulate phase vs the run's STREAM copy", "motif", "tight", "tight",
     "stream_copy_fraction", 0.8, ">=", ["simulate_GBps", "stream_copy_GBps"]),
    ("Digital Replica simulate phase vs the run's STREAM copy", "motif", "none", "none",
     "stream_copy_fraction", 0.8, ">=", ["simulate_GBps", "stream_copy_GBps"]),
    ("Digital Replica tight vs none, steps/s end to end", "motif", "pair", "", "tight_over_none_speed", 1.0, ">=",
     ["tight_steps_per_s", "none_steps_per_s"]),
    ("Digital Replica tight, CPU s / (wall s x threads used)", "motif", "tight", "tight", "cpu_over_wall_threads",
     1.2, "<=", ["threads"]),
]

# The machine beside the semi-tight rows: how long a thread blocked on a Unix
# socket takes to resume when the answer comes after this much work (µs).
WAKE_AFTER_US = (0, 300, 3000)
# BM_CacheKeptOverCompute: ms of arithmetic between reading the data hot and again.
CACHE_GAP_MS = (0, 1, 10, 50)


def base_name(name):
    """The benchmark's name and arguments, without options such as min_time:2.000 or real_time."""
    return "/".join(p for p in name.split("/") if ":" not in p and p != "real_time")


def build_type(build):
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    return line.split("=", 1)[1].strip() or "no build type"
    except OSError:
        pass
    return "build type unknown"


def run_binary(path, filt, repetitions, min_time):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [path, f"--benchmark_filter={filt}", f"--benchmark_repetitions={repetitions}",
               f"--benchmark_out={out.name}", "--benchmark_out_format=json"]
        if min_time is not None:
            cmd.append(f"--benchmark_min_time={min_time}")
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{path} exited with status {r.returncode}: {r.stderr.strip()[-600:]}")
        with open(out.name) as f:
            doc = json.load(f)
    runs = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type") != "iteration":
            continue
        if b.get("error_occurred"):
            raise RuntimeError(f"{b['name']}: {b.get('error_message', 'error')}")
        runs.setdefault(base_name(b["name"]), []).append(b)
    return doc.get("context", {}), runs


def motif_runs(exe, size, count, wakeup_latency_us):
    """`count` interleaved pairs of Digital Replica runs, tight and none, as benchmark-like rows."""
    out = {"tight": [], "none": [], "pair": []}
    with tempfile.TemporaryDirectory() as d:
        for i in range(count):
            sps = {}
            for mode in ("tight", "none"):
                path = os.path.join(d, f"{mode}-{i}.json")
                cmd = [exe, "--motif=digital_replica", f"--size={size}", f"--coupling={mode}", f"--out={path}",
                       "--quiet"]
                if wakeup_latency_us is not None:
                    cmd.append(f"--set=run.cpu_wakeup_latency_us={wakeup_latency_us}")
                r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                if r.returncode != 0:
                    raise RuntimeError(f"digital_replica {mode} {size}: exit {r.returncode}: {r.stderr.strip()[-600:]}")
                with open(path) as f:
                    doc = json.load(f)
                if not doc.get("valid"):
                    raise RuntimeError(f"digital_replica {mode} {size}: invalid: {doc.get('invalid_reasons')}")
                summary, threads = doc["summary"], doc["context"]["threads"]["run_count"]
                sim = summary["phases"]["simulate"]["throughput"]
                cpu = [c["cpu_s"] / (rep["measured_s"] * threads) for rep in doc["repetitions"]
                       for c in rep.get("components", []) if c["name"] == "ranks"]
                sps[mode] = summary["iterations_per_s"]["mean_per_s"]
                row = {"stream_copy_fraction": sim["stream_copy_fraction"], "simulate_GBps": sim["bytes_per_s"] * 1e-9,
                       "stream_copy_GBps": doc["roofline"]["stream_copy_bytes_per_s"] * 1e-9, "threads": threads}
                if cpu:
                    row["cpu_over_wall_threads"] = statistics.mean(cpu)
                out[mode].append(row)
            out["pair"].append({"tight_over_none_speed": sps["tight"] / sps["none"], "tight_steps_per_s": sps["tight"],
                                "none_steps_per_s": sps["none"]})
    return out


def hold_wakeup_latency(limit_us, device="/dev/cpu_dma_latency"):
    """(file descriptor or None, what the header says): the limit is held while the descriptor stays open."""
    if limit_us is None:
        return None, "idle CPUs as the machine has them"
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        raise RuntimeError(f"--cpu-wakeup-latency-us {limit_us}: cannot open {device}: {e.strerror} "
                           f"(it needs root, or write access to the file)")
    os.write(fd, struct.pack("=i", limit_us))
    return fd, f"idle CPUs held to a {limit_us} us wake-up latency (the kernel's limit: " \
               f"{struct.unpack('=i', os.pread(fd, 4, 0))[0]} us){limit_effect(limit_us)}"


def limit_effect(limit_us, sysfs="/sys/devices/system/cpu"):
    """'' where the limit keeps the CPUs out of an idle state, else '; no effect: why' (as the results say)."""
    try:
        driver = open(f"{sysfs}/cpuidle/current_driver").read().strip() or "none"
    except OSError:
        driver = "none"
    if driver == "none":
        return "; no effect: this machine has no cpuidle driver, so its idle CPUs halt whatever the limit"
    for state in glob.glob(f"{sysfs}/cpu0/cpuidle/state*"):
        try:
            if open(f"{state}/disable").read().strip() != "1" and int(open(f"{state}/latency").read()) > limit_us:
                return ""
        except (OSError, ValueError):
            return ""
    return f"; no effect: every enabled idle state of {driver} already wakes within it"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/default")
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=None,
                    help="--benchmark_min_time for each benchmark (default: the benchmarks' own)")
    ap.add_argument("--motif-runs", type=int, default=None,
                    help="pairs of Digital Replica runs, tight and none (default: --repetitions; 0: none)")
    ap.add_argument("--motif-size", default="small", help="their size (default small)")
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--gate", action="store_true", help="exit 1 when a median misses its floor")
    ap.add_argument("--cpu-wakeup-latency-us", type=int, default=None,
                    help="hold this wake-up latency limit on idle CPUs while the benchmarks and runs go "
                         "(/dev/cpu_dma_latency; 0: idle CPUs poll)")
    a = ap.parse_args()
    if a.repetitions < 1:
        print("perf_ratios: --repetitions must be at least 1", file=sys.stderr)
        return 2
    if a.cpu_wakeup_latency_us is not None and not 0 <= a.cpu_wakeup_latency_us <= 2**31 - 1:
        print("perf_ratios: --cpu-wakeup-latency-us must be 0 to 2147483647 (microseconds)", file=sys.stderr)
        return 2
    try:
        _held, idle = hold_wakeup_latency(a.cpu_wakeup_latency_us)
    except (RuntimeError, OSError) as e:
        print(f"perf_ratios: {e}", file=sys.stderr)
        return 1
    runs, context = {}, {}
    for key, (rel, filt) in BINARIES.items():
        path = os.path.join(a.build, rel)
        if not os.access(path, os.X_OK):
            print(f"perf_ratios: {path} is not built (scripts/build.sh builds the benchmarks; "
                  f"valid --build folders hold bench/ and surrogates/)", file=sys.stderr)
            return 1
        try:
            context[key], runs[key] = run_binary(path, filt, a.repetitions, a.min_time)
        except (RuntimeError, OSError, ValueError) as e:
            print(f"perf_ratios: {e}", file=sys.stderr)
            return 1
    pairs = a.repetitions if a.motif_runs is None else a.motif_runs
    if pairs > 0:
        try:
            runs["motif"] = motif_runs(os.path.join(a.build, "motifbench"), a.motif_size, pairs,
                                       a.cpu_wakeup_latency_us)
        except (RuntimeError, OSError, ValueError, KeyError) as e:
            print(f"perf_ratios: {e}", file=sys.stderr)
            return 1
    rows, missing, below = [], [], []
    for ratio, binary, name, case, counter, floor, sense, extra in ROWS:
        if binary not in runs:
            continue  # --motif-runs 0
        if binary == "motif":
            case = f"{case}, size {a.motif_size}".lstrip(", ")
        values = [r[counter] for r in runs[binary].get(name, []) if counter in r]
        if isinstance(floor, str):  # the benchmark's own statement of its floor
            floors = {r[floor] for r in runs[binary].get(name, []) if floor in r}
            if len(floors) != 1:
                missing.append(f"{name} ({floor})")
                continue
            floor = floors.pop()
        if not values:
            missing.append(f"{name} ({counter})")
            continue
        med = statistics.median(values)
        meets = med >= floor if sense == ">=" else med <= floor
        if not meets:
            below.append(f"{ratio}, {case}")
        rows.append({"ratio": ratio, "case": case, "benchmark": name, "counter": counter,
                     "min": min(values), "median": med, "max": max(values), "repetitions": len(values),
                     "floor": f"{sense} {floor:g}", "meets_floor": meets,
                     "medians": {c: statistics.median(r[c] for r in runs[binary][name] if c in r)
                                 for c in extra if any(c in r for r in runs[binary][name])}})
    ctx = context.get("kernels", {})
    print(f"# {platform.node()}: {ctx.get('num_cpus', os.cpu_count())} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz, "
          f"build {a.build} ({build_type(a.build)}), {a.repetitions} repetition(s) each, {idle}")
    print("| ratio | case | min / median / max | floor | median meets it | beside it (medians) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        beside = ", ".join(f"{k} {v:.4g}" for k, v in r["medians"].items())
        print(f"| {r['ratio']} | {r['case']} | {r['min']:.3g} / {r['median']:.3g} / {r['max']:.3g} | "
              f"{r['floor']} | {'yes' if r['meets_floor'] else 'no'} | {beside} |")
    def medians_by_arg(binary, bench, args, counter):
        """{arg: median of `counter` over the repetitions of bench/arg}; absent ones go to `missing`."""
        out = {}
        for arg in args:
            values = [r[counter] for r in runs[binary].get(f"{bench}/{arg}", []) if counter in r]
            if values:
                out[str(arg)] = statistics.median(values)
            else:
                missing.append(f"{bench}/{arg} ({counter})")
        return out

    wake = medians_by_arg("transport", "BM_UnixPingPongAfterWork", WAKE_AFTER_US, "wake_us")
    if wake:
        print("wake-up of a thread blocked on a Unix socket (ping-pong minus the other side's work), median: " +
              ", ".join(f"{v:.3g} µs after {us} µs of work" for us, v in wake.items()))
    kept = medians_by_arg("kernels", "BM_CacheKeptOverCompute", CACHE_GAP_MS, "after_over_hot")
    if kept:
        print("reading 192 KiB after arithmetic that touches no memory, over reading it hot, median: " +
              ", ".join(f"{v:.3g}x after {ms} ms" for ms, v in kept.items()))
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"build": a.build, "repetitions": a.repetitions, "idle_cpus": idle,
                       "cpu_wakeup_latency_us": a.cpu_wakeup_latency_us, "rows": rows, "wake_us_after_work_us": wake,
                       "cache_read_after_compute_ms_over_hot": kept,
                       "missing": missing}, f, indent=1)
        os.replace(tmp, a.json)  # never a half-written file under the real name
    if missing:
        print(f"perf_ratios: no figure from {', '.join(missing)}", file=sys.stderr)
        return 1
    if below:
        print(f"below the floor (median): {'; '.join(below)}")
        if a.gate:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
