#!/usr/bin/python3
"""--threads=N is what every library uses: LibTorch, OpenBLAS and Kokkos
(a Serial Kokkos has one thread whatever is asked), as the result's context
records; OpenMP waits passively unless the user chose a policy; the default
(0) is the node's cores over its ranks, and an embedded server's the node's
cores over the larger of its ranks and its servers. OpenBLAS's idle threads sleep
(OPENBLAS_THREAD_TIMEOUT=4) unless the user chose a timeout. Each rank's
CPUs and the CPUs its steps ran on are in the result (context.cpu_placement).

Usage: threads_test.py MOTIFBENCH MPIEXEC SCRATCH_DIR
"""
import glob
import json
import os
import subprocess
import sys


def run(cmd, out, env=None):
    if os.path.exists(out):
        os.remove(out)
    r = subprocess.run(cmd + [f"--out={out}", "--quiet"], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, **(env or {})))
    if r.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(cmd)} exited {r.returncode}: {r.stderr[-800:]}")
    return json.load(open(out))


def cpu_list(cpus):
    """The kernel's cpulist format: 0-3,6."""
    out, i = [], 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        out.append(str(cpus[i]) if i == j else f"{cpus[i]}-{cpus[j]}")
        i = j + 1
    return ",".join(out)


def allowed_set(text):
    cpus = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        cpus += range(int(a), int(b or a) + 1)
    return cpus


def main():
    exe, mpiexec, scratch = sys.argv[1:4]
    os.makedirs(scratch, exist_ok=True)
    cores = os.cpu_count()
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GLIBC_TUNABLES", "OPENBLAS_THREAD_TIMEOUT")}
    os.environ.clear()
    os.environ.update(env)
    problems = []
    base = [exe, "--motif=digital_replica", "--size=tiny", "--coupling=tight", "--repetitions=1"]
    for n in sorted({1, cores}):
        c = run(base + [f"--threads={n}"], os.path.join(scratch, f"t{n}.json"))["context"]
        kokkos_expect = 1 if c["kokkos"]["backend"] == "Serial" else n
        got = {"run": c["threads"]["run_count"], "torch": c["torch"]["threads_count"],
               "blas": c["blas"]["threads_count"], "kokkos": c["kokkos"]["concurrency_count"]}
        want = {"run": n, "torch": n, "blas": n if c["blas"]["threads_count"] != -1 else -1, "kokkos": kokkos_expect}
        if got != want:
            problems.append(f"--threads={n}: {got}, expected {want}")
        if c["threads"]["omp_wait_policy"] != "passive":
            problems.append(f"--threads={n}: OpenMP wait policy {c['threads']['omp_wait_policy']!r}, expected passive")
        print(f"--threads={n}: {got}, kokkos backend {c['kokkos']['backend']}, "
              f"OpenMP wait {c['threads']['omp_wait_policy']}")
        if c["threads"].get("openblas_thread_timeout") != "4":
            problems.append(f"--threads={n}: OpenBLAS thread timeout {c['threads'].get('openblas_thread_timeout')!r}, "
                            "expected 4 (idle threads sleep)")
        # The allocator keeps LibTorch's activations in the heap (see ensure_runtime_settings).
        tunables = c["environment"].get("GLIBC_TUNABLES", "")
        if "glibc.malloc.mmap_threshold=1073741824" not in tunables:
            problems.append(f"--threads={n}: GLIBC_TUNABLES {tunables!r}, expected the heap-keeping malloc settings")
    # The user's policy and allocator settings are kept.
    c = run(base + ["--threads=1"], os.path.join(scratch, "active.json"),
            {"OMP_WAIT_POLICY": "active", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2",
             "OPENBLAS_THREAD_TIMEOUT": "28"})["context"]
    if c["threads"]["omp_wait_policy"] != "active":
        problems.append(f"OMP_WAIT_POLICY=active became {c['threads']['omp_wait_policy']!r}")
    if c["environment"].get("GLIBC_TUNABLES") != "glibc.malloc.arena_max=2":
        problems.append(f"GLIBC_TUNABLES=glibc.malloc.arena_max=2 became {c['environment'].get('GLIBC_TUNABLES')!r}")
    if c["threads"].get("openblas_thread_timeout") != "28":
        problems.append(f"OPENBLAS_THREAD_TIMEOUT=28 became {c['threads'].get('openblas_thread_timeout')!r}")
    # Default: the node's cores over its ranks.
    c = run(base, os.path.join(scratch, "default.json"))["context"]
    if c["threads"]["run_count"] != cores or c["torch"]["threads_count"] != cores:
        problems.append(f"default threads on {cores} cores, 1 rank: {c['threads']}, torch {c['torch']}")
    doc = run([mpiexec, "-n", "2"] + base, os.path.join(scratch, "mpi2.json"))
    want = max(1, cores // 2)
    if doc["context"]["threads"] != {"run_count": want, "ranks_on_node_count": 2, "omp_wait_policy": "passive",
                                            "openblas_thread_timeout": "4"}:
        problems.append(f"default threads with 2 ranks on {cores} cores: {doc['context']['threads']}")
    # Embedded servers: by default the node's cores shared among them, as the
    # ranks share them; coupling.server_threads sets it.
    semi = [exe, "--motif=digital_replica", "--size=tiny", "--coupling=semi-tight", "--repetitions=1"]
    # A request gets the threads its rank would have in process: cores over the
    # larger of the ranks and the servers on the node.
    for pre, extra, want in (([], [], cores), ([], ["--set", "coupling.servers=2"], max(1, cores // 2)),
                             ([], ["--set", "coupling.server_threads=1"], 1),
                             ([mpiexec, "-n", "2"], [], max(1, cores // 2))):
        doc = run(pre + semi + extra, os.path.join(scratch, "semi.json"))
        got = [s.get("threads_count") for s in doc["services"] if s["kind"] == "inference_server"]
        if not got or any(g != want for g in got):
            problems.append(f"semi-tight {' '.join(pre[1:] + extra) or 'default'} on {cores} cores: server threads "
                            f"{got}, expected {want} each")
        else:
            print(f"semi-tight {' '.join(pre[1:] + extra) or 'default'}: {len(got)} server(s), {want} thread(s) each")
    # Where the steps ran: each rank's allowed CPUs (its affinity) and every
    # measured step counted on the CPU it ended on.
    def placement(doc, label, want_allowed):
        got = doc["context"].get("cpu_placement", [])
        steps = sum(r["iterations_count"] for r in doc["repetitions"])
        if [p.get("rank_index") for p in got] != list(range(doc["context"]["mpi"]["ranks_count"])):
            problems.append(f"{label}: cpu_placement has ranks {[p.get('rank_index') for p in got]}")
            return
        for p in got:
            if p.get("server_cpus") != []:
                problems.append(f"{label}: rank {p['rank_index']} server_cpus {p.get('server_cpus')}, "
                                "expected none (no server)")
            counted = sum(s["steps_count"] for s in p["step_cpus"])
            cpus = {s["cpu_index"] for s in p["step_cpus"]}
            if p["allowed_cpus"] != want_allowed or counted != steps or not cpus <= set(allowed_set(want_allowed)):
                problems.append(f"{label}: rank {p['rank_index']} allowed {p['allowed_cpus']!r} (expected "
                                f"{want_allowed!r}), {counted} steps counted on CPUs {sorted(cpus)} of {steps}")
        print(f"{label}: " + "; ".join(f"rank {p['rank_index']} CPUs {p['allowed_cpus']}, steps on "
                                       f"{[s['cpu_index'] for s in p['step_cpus']]}" for p in got))
    mine = sorted(os.sched_getaffinity(0))
    placement(run(base, os.path.join(scratch, "placed.json")), "placement", cpu_list(mine))
    last = mine[-1]
    placement(run(["taskset", "-c", str(last)] + base, os.path.join(scratch, "pinned.json")),
              f"taskset -c {last}", str(last))
    placement(run([mpiexec, "-n", "2"] + base, os.path.join(scratch, "placed2.json")), "2 ranks", cpu_list(mine))
    # Where the servers computed: each semi-tight answer names its server's
    # CPU. Under taskset the embedded servers, children of the run, inherit
    # its one CPU, and every measured step calls them at least once.
    doc = run(["taskset", "-c", str(last)] + semi, os.path.join(scratch, "semi_pinned.json"))
    served = [p.get("server_cpus") for p in doc["context"]["cpu_placement"]]
    steps = sum(r["iterations_count"] for r in doc["repetitions"])
    if (len(served) != 1 or [s["cpu_index"] for s in served[0] or []] != [last] or
            served[0][0]["calls_count"] < steps):
        problems.append(f"semi-tight under taskset -c {last}: server_cpus {served}, expected all of at least "
                        f"{steps} calls on CPU {last}")
    else:
        print(f"semi-tight under taskset -c {last}: {served[0][0]['calls_count']} calls computed on CPU {last} "
              f"for {steps} steps")
    # coupling.server_cpus: the embedded servers run on the CPUs listed
    # (here the rank's last one, no taskset), with one thread for one CPU;
    # a CPU past this machine's is refused before the run, named.
    doc = run(semi + [f"--set=coupling.server_cpus={last}"], os.path.join(scratch, "server_cpus.json"))
    served = [p.get("server_cpus") for p in doc["context"]["cpu_placement"]]
    threads = [s.get("threads_count") for s in doc["services"] if s.get("kind") == "inference_server"]
    if [s["cpu_index"] for s in served[0] or []] != [last] or threads != [1]:
        problems.append(f"coupling.server_cpus={last}: server_cpus {served}, server threads {threads} "
                        f"(expected every call on CPU {last}, 1 thread)")
    else:
        print(f"coupling.server_cpus={last}: {served[0][0]['calls_count']} calls computed on CPU {last}, 1 thread")
    if len(mine) >= 2:  # outside the rank's own binding too
        first = mine[0]
        doc = run(["taskset", "-c", str(first)] + semi + [f"--set=coupling.server_cpus={last}"],
                  os.path.join(scratch, "server_cpus_apart.json"))
        served = [p.get("server_cpus") for p in doc["context"]["cpu_placement"]]
        steps = [p.get("step_cpus") for p in doc["context"]["cpu_placement"]]
        if [s["cpu_index"] for s in served[0] or []] != [last] or [s["cpu_index"] for s in steps[0]] != [first]:
            problems.append(f"taskset -c {first} with coupling.server_cpus={last}: steps {steps}, servers {served}")
    outside = os.cpu_count() + 7
    r = subprocess.run(semi + [f"--set=coupling.server_cpus={outside}", f"--out={scratch}/refused.json"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 2 or f"CPU {outside} is not among the CPUs processes here may use (" not in r.stderr \
            or os.path.exists(os.path.join(scratch, "refused.json")):
        problems.append(f"coupling.server_cpus={outside}: exit {r.returncode}, {r.stderr[-300:]!r}")
    # run.cpu_wakeup_latency_us: held (the device reads back the kernel's
    # limit while the run holds it) where the run may write
    # /dev/cpu_dma_latency, else a warning naming why; not asked, not held.
    device = "/dev/cpu_dma_latency"
    doc = run(base + ["--set=run.cpu_wakeup_latency_us=0"], os.path.join(scratch, "wakeup.json"))
    limit = doc["context"]["cpu_idle"]["wakeup_latency_limit"]
    if os.access(device, os.W_OK):
        # It takes effect where a cpuidle driver has an enabled state that
        # takes longer than 0 us to leave (or whose latency is unreadable).
        sysfs = "/sys/devices/system/cpu"
        try:
            driver = open(f"{sysfs}/cpuidle/current_driver").read().strip() or "none"
        except OSError:
            driver = "none"
        deep = False
        for state in sorted(glob.glob(f"{sysfs}/cpu0/cpuidle/state*")):
            try:
                if open(f"{state}/disable").read().strip() == "1":
                    continue
                deep = deep or int(open(f"{state}/latency").read()) > 0
            except (OSError, ValueError):
                deep = True
        effective = driver != "none" and deep
        held = f"held at 0 us through {device} (the kernel's limit: 0 us)"
        warned = any(w.startswith(f"run.cpu_wakeup_latency_us=0 was {held}; no effect: ") for w in doc["warnings"])
        if not (limit["held"] and limit["requested_us"] == 0 and limit["effective"] == effective and
                (limit["detail"] == held if effective else limit["detail"].startswith(held + "; no effect: ")) and
                warned != effective):
            problems.append(f"run.cpu_wakeup_latency_us=0 with {device} writable (driver {driver}, a state deeper "
                            f"than 0 us: {deep}): {limit}, warnings {doc['warnings']}")
    elif limit["held"] or not any(w.startswith("run.cpu_wakeup_latency_us=0 was not held") for w in doc["warnings"]):
        problems.append(f"run.cpu_wakeup_latency_us=0 without access to {device}: {limit}, warnings {doc['warnings']}")
    print(f"run.cpu_wakeup_latency_us=0: {limit['detail']}")
    unasked = run(base, os.path.join(scratch, "unasked.json"))["context"]["cpu_idle"]["wakeup_latency_limit"]
    if unasked != {"requested_us": None, "held": False, "effective": False, "detail": "not requested"}:
        problems.append(f"no run.cpu_wakeup_latency_us: {unasked}")
    # More ranks x threads than cores: a warning in the result.
    doc = run([mpiexec, "-n", "2"] + base + [f"--threads={cores}"], os.path.join(scratch, "over.json"))
    if not any("exceed its" in w for w in doc["warnings"]):
        problems.append(f"2 ranks x {cores} threads on {cores} cores: no warning in {doc['warnings']}")
    if problems:
        print("FAIL: " + " | ".join(problems))
        return 1
    print("ok: one thread count reaches LibTorch, OpenBLAS and Kokkos; OpenMP and OpenBLAS wait passively; defaults share the node")
    return 0


if __name__ == "__main__":
    sys.exit(main())
