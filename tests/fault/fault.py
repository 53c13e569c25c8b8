#!/usr/bin/python3
"""Fault tests: a component failing mid-run ends the run promptly with an
invalid result, a non-zero exit and nothing left behind (no child process, no
socket file, no shared-memory segment). Every server is on loopback and every
test is bounded in time.

Usage: fault.py MOTIFBENCH SCRATCH_DIR CASE
CASE: server_killed | server_stopped | redis_killed | unreachable_server | sigint | sigterm | sigterm_duplicate
      | sweep_sigint | sweep_sigterm
      | watch:<motif>:server | watch:<motif>:redis   (size small, default settings)
      | serve_signals | serve_listen_on_file | too_many_threads | single_process
"""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

PROMPT_S = 15  # a failure must end the run within this many seconds


def unmeasured_figures(doc):
    """A run that ended before it started has no figure that looks measured:
    no zeros, only absent or null figures."""
    s = doc["summary"]
    found = []
    for key in ("measured_s", "iterations_per_s"):
        if s[key].get("samples_count") != 0 or len(s[key]) != 1:
            found.append(f"summary.{key} is {s[key]}, expected only samples_count 0")
    if any(v is not None for k, v in s["harness_overhead"].items() if k != "method"):
        found.append(f"summary.harness_overhead has figures: {s['harness_overhead']}")
    if any(v is not None for k, v in doc["roofline"].items() if k != "method"):
        found.append(f"roofline has a figure: {doc['roofline']}")
    if s["energy"]["energy_j"] is not None:
        found.append(f"summary.energy has a figure: {s['energy']['energy_j']}")
    return found


def children(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return []
    return [int(p) for p in out.split()]


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes only once reaped; report it as alive.
    return True


def wait_for_child(pid, needle, timeout_s=30):
    end = time.time() + timeout_s
    while time.time() < end:
        for c in children(pid):
            if needle in cmdline(c):
                return c
        time.sleep(0.05)
    return None


def running(pid):
    """A process that exists and has not exited (not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def leftovers(pid, kids):
    found = [f"process {k} ({cmdline(k).strip()[:60]})" for k in kids if alive(k) and cmdline(k)]
    found += glob.glob(f"/tmp/motifbench-{pid}-*")
    found += glob.glob(f"/dev/shm/motifbench-{pid}-*")
    return found


def tcp_listeners(pid):
    """Listening TCP sockets held by a process: its socket inodes in /proc/net/tcp{,6} state 0A."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return []
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:
                    found.append(cols[1])
    return found


def caught_crash_signals(pid):
    """Crash signals (SEGV, BUS, ILL, FPE) for which the process has a handler."""
    with open(f"/proc/{pid}/status") as f:
        mask = int(next(l for l in f if l.startswith("SigCgt:")).split()[1], 16)
    return [s.name for s in (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE) if mask & (1 << (s - 1))]


def single_process(exe, scratch):
    """A run without a launcher opens no network listener (MPI is not initialised),
    and a crash ends it: no library handler catches SIGSEGV."""
    out = os.path.join(scratch, "single.json")
    if os.path.exists(out):
        os.remove(out)
    p = subprocess.Popen([exe, "--motif=digital_replica", "--size=tiny", "--coupling=semi-tight", f"--out={out}",
                          "--quiet", "--min-time-s=30", "--repetitions=1"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    server = wait_for_child(p.pid, " serve ")
    problems = []
    for who, pid in (("run", p.pid), ("server", server)):
        if pid is None:
            problems.append(f"{who}: not found")
            continue
        # A library constructor installs UCX's handlers before main removes
        # them; loading LibTorch under load can take seconds.
        end = time.time() + PROMPT_S
        while caught_crash_signals(pid) and time.time() < end:
            time.sleep(0.2)
        if tcp_listeners(pid):
            problems.append(f"{who} listens on TCP {tcp_listeners(pid)}")
        if caught_crash_signals(pid):
            problems.append(f"{who} catches {caught_crash_signals(pid)} after {PROMPT_S} s")
    t0 = time.time()
    p.send_signal(signal.SIGSEGV)
    try:
        _, err = p.communicate(timeout=PROMPT_S)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        problems.append(f"hung after SIGSEGV for {PROMPT_S} s")
    crash_s = time.time() - t0
    if p.returncode != -signal.SIGSEGV:
        problems.append(f"SIGSEGV gave exit {p.returncode}, expected death by the signal")
    time.sleep(0.5)
    if server and alive(server) and cmdline(server):
        problems.append("the server outlived the crashed run")
    if os.path.exists(out):
        problems.append("a result file exists after a crash")
    if problems:
        print("FAIL single_process: " + "; ".join(problems) + f"; stderr {err[-300:]!r}")
        return 1
    # MPI's state is recorded: a plain run says it did not initialise MPI.
    r = subprocess.run([exe, "--motif=null", "--coupling=none", "--size=tiny", f"--out={out}", "--quiet"],
                       capture_output=True, text=True, timeout=120)
    init = json.load(open(out))["context"]["mpi"].get("init", "") if r.returncode == 0 else ""
    if not init.startswith("not initialised"):
        print(f"FAIL single_process: context.mpi.init = {init!r} (exit {r.returncode})")
        return 1
    print(f"ok single_process: no TCP listener in the run or its server, no crash handler, SIGSEGV ended the run "
          f"in {crash_s:.1f} s; context.mpi.init = {init!r}")
    return 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def serve_cases(exe, scratch, case):
    """`motifbench serve` on its own: clean exit on signals, never deletes a non-socket."""
    sock = os.path.join(scratch, "serve.sock")
    if case == "serve_signals":
        # 8 x SIGTERM and 8 x SIGINT: exit 0 and the socket removed, every time.
        bad = []
        for i in range(16):
            if os.path.exists(sock):
                os.remove(sock)
            p = subprocess.Popen([exe, "serve", "--listen", f"unix:{sock}"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            line = p.stdout.readline()
            if "listening on" not in line:
                p.kill()
                bad.append(f"try {i}: did not start: {line!r}")
                continue
            sig = signal.SIGTERM if i % 2 == 0 else signal.SIGINT
            p.send_signal(sig)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                bad.append(f"try {i}: hung after {sig.name}")
                continue
            if p.returncode != 0:
                bad.append(f"try {i}: {sig.name} gave exit {p.returncode}")
            if os.path.exists(sock):
                bad.append(f"try {i}: socket left behind after {sig.name}")
        if bad:
            print("FAIL serve_signals: " + "; ".join(bad[:6]))
            return 1
        print("ok serve_signals: 16 of 16 signals (SIGTERM, SIGINT) gave exit 0 and removed the socket")
        return 0
    if case == "serve_listen_on_file":
        victim = os.path.join(scratch, "precious.txt")
        with open(victim, "w") as f:
            f.write("keep me\n")
        r = subprocess.run([exe, "serve", "--listen", f"unix:{victim}"], capture_output=True, text=True, timeout=30)
        intact = open(victim).read() == "keep me\n"
        if r.returncode == 0 or not intact or "not a socket" not in r.stderr:
            print(f"FAIL serve_listen_on_file: exit {r.returncode}, file intact {intact}, stderr {r.stderr[-300:]!r}")
            return 1
        print(f"ok serve_listen_on_file: refused (exit {r.returncode}), the file is intact")
        return 0
    return None


def await_end(p, t_fault, problems):
    """Waits for p to end; notes a hang or an end later than PROMPT_S after
    the fault. Returns its stdout, stderr and the seconds it took."""
    try:
        stdout, stderr = p.communicate(timeout=PROMPT_S + 60)
    except subprocess.TimeoutExpired:
        p.kill()
        stdout, stderr = p.communicate()
        problems.append("hung")
    took = time.time() - t_fault
    if took > PROMPT_S:
        problems.append(f"took {took:.1f} s to end after the fault (limit {PROMPT_S} s)")
    return stdout, stderr, took


def descendants(pid):
    found, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            found.append(c)
            todo.append(c)
    return found


def sweep_signal(exe, scratch, sig):
    """A signal to a sweep (only to it, as `kill` or a scheduler sends it)
    stops the run in progress through its own clean stop, writes the index of
    what ran, and leaves no process behind."""
    name = f"sweep_{sig.name.lower()}"
    out_dir = os.path.join(scratch, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    p = subprocess.Popen([exe, "sweep", "--motif=digital_replica", "--coupling=semi-tight,none", "--size=tiny",
                          "--min-time-s=60", "--repetitions=1", f"--out-dir={out_dir}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = wait_for_child(p.pid, "--coupling=semi-tight")
    if run is None or wait_for_child(run, " serve ") is None:
        p.kill()
        print(f"FAIL {name}: the sweep's first run or its server never started")
        return 1
    kids = descendants(p.pid)
    time.sleep(2.0)
    t0 = time.time()
    p.send_signal(sig)
    problems = []
    stdout, stderr, took = await_end(p, t0, problems)
    if p.returncode != 128 + sig:
        problems.append(f"exit status {p.returncode}, expected {128 + sig}")
    try:
        with open(os.path.join(out_dir, "index.json")) as f:
            index = json.load(f)
        cells = [(c["coupling"], c["status"]) for c in index["cells"]]
        if index.get("interrupted_by_signal") != sig or cells != [("semi-tight", "interrupted")]:
            problems.append(f"index: interrupted_by_signal {index.get('interrupted_by_signal')}, cells {cells}")
        with open(os.path.join(out_dir, "digital_replica_semi-tight_tiny.json")) as f:
            doc = json.load(f)
        if doc["valid"] is not False or not any("interrupted" in r for r in doc["invalid_reasons"]):
            problems.append(f"the run's result is not marked interrupted: {doc['invalid_reasons']}")
    except (OSError, ValueError, KeyError) as e:
        problems.append(f"no readable index or result: {e}")
    time.sleep(0.5)
    left = [f"process {k} ({cmdline(k).strip()[:60]})" for k in kids if running(k)]
    left += [f for k in kids for f in glob.glob(f"/tmp/motifbench-{k}-*") + glob.glob(f"/dev/shm/motifbench-{k}-*")]
    if left:
        problems.append(f"left behind: {left}")
    if problems:
        print(f"FAIL {name}: " + "; ".join(problems))
        print("stdout:", stdout[-800:], "stderr:", stderr[-800:])
        return 1
    print(f"ok {name}: ended {took:.2f} s after the signal, exit {p.returncode}; {stdout.strip().splitlines()[-1]}")
    return 0


def main():
    exe, scratch, case = sys.argv[1:4]
    os.makedirs(scratch, exist_ok=True)
    done = serve_cases(exe, scratch, case)
    if done is not None:
        return done
    if case == "sigkill_sweep":
        # kill -9 leaves the private socket folder (and any shm segment) behind;
        # the next run's startup sweep removes them, since their owner is gone.
        out = os.path.join(scratch, "sigkill.json")
        p = subprocess.Popen([exe, "--motif=digital_replica", "--size=tiny", f"--out={out}", "--quiet",
                              "--min-time-s=60", "--coupling=semi-tight", "--set", "check.every=2", "--set",
                              "check.threshold=0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_child(p.pid, " serve ")
        time.sleep(2.0)
        p.kill()
        p.communicate()
        time.sleep(0.5)
        before = glob.glob(f"/tmp/motifbench-{p.pid}-*") + glob.glob(f"/dev/shm/motifbench-{p.pid}-*")
        r = subprocess.run([exe, "--motif=null", "--coupling=none", "--size=tiny", f"--out={scratch}/after.json"],
                           capture_output=True, text=True, timeout=120)
        after = glob.glob(f"/tmp/motifbench-{p.pid}-*") + glob.glob(f"/dev/shm/motifbench-{p.pid}-*")
        if not before or after or r.returncode != 0 or "stale" not in r.stderr:
            print(f"FAIL sigkill_sweep: left by kill -9: {before}; after the next run: {after}; "
                  f"exit {r.returncode}; stderr {r.stderr[-300:]!r}")
            return 1
        print(f"ok sigkill_sweep: kill -9 left {len(before)} entr(ies); the next run removed them")
        return 0
    if case == "single_process":
        return single_process(exe, scratch)
    if case in ("sweep_sigint", "sweep_sigterm"):
        return sweep_signal(exe, scratch, signal.SIGINT if case == "sweep_sigint" else signal.SIGTERM)
    if case == "too_many_threads":
        r = subprocess.run([exe, "--motif=digital_replica", "--size=tiny", f"--out={scratch}/threads.json",
                            "--threads=4096"], capture_output=True, text=True, timeout=60)
        if r.returncode != 2 or "hardware threads" not in r.stderr or os.path.exists(f"{scratch}/threads.json"):
            print(f"FAIL too_many_threads: exit {r.returncode}, stderr {r.stderr[-300:]!r}")
            return 1
        print(f"ok too_many_threads: {r.stderr.strip().splitlines()[-1]}")
        return 0
    out = os.path.join(scratch, case.replace(":", "_") + ".json")
    if os.path.exists(out):
        os.remove(out)
    # Long enough that the fault lands mid-run; frequent retraining so the
    # staging store (Redis in loose mode) is used every other step.
    base = [exe, "--motif=digital_replica", "--size=tiny", f"--out={out}", "--quiet", "--min-time-s=60",
            "--repetitions=1", "--set", "check.every=2", "--set", "check.threshold=0", "--set", "coupling.timeout_s=5"]
    problems = []
    def start(coupling_args):
        return subprocess.Popen(base + coupling_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def kill_child_midrun(p, needle, sig=signal.SIGKILL, after_s=2.0):
        if not wait_for_child(p.pid, needle):
            return None, [], time.time()
        kids = children(p.pid)
        time.sleep(after_s)
        # The victim is chosen now, not when it first appeared: a run may end
        # and start such children (Dynamic Orchestration respawns members). A
        # few tries, each on a child that is running and not yet a zombie.
        for _ in range(20):
            victim = wait_for_child(p.pid, needle, timeout_s=5)
            if victim is None:
                break  # the run ended before the fault could land
            if not running(victim):
                time.sleep(0.05)  # a zombie about to be reaped; its successor comes next
                continue
            kids = sorted(set(kids) | set(children(p.pid)))  # those started since count for the leftovers
            try:
                os.kill(victim, sig)
                return victim, kids, time.time()
            except ProcessLookupError:
                continue
        return None, kids, time.time()

    if case == "server_killed":
        p = start(["--coupling=semi-tight"])
        victim, kids, t_kill = kill_child_midrun(p, " serve ")
        expect_exit, expect_reason = (1, "inference server")
    elif case == "server_stopped":
        # A server that hangs (SIGSTOP: alive, its socket open, no answers):
        # the call in flight times out (coupling.timeout_s) and the run ends;
        # the stopped server is still killed with the rest.
        # No retraining: the hang meets an inference call, not a weight push.
        base[base.index("check.every=2")] = "check.every=1000000"
        p = start(["--coupling=semi-tight"])
        victim, kids, t_kill = kill_child_midrun(p, " serve ", signal.SIGSTOP, after_s=6.0)
        expect_exit, expect_reason = (1, "inference server")
    elif case == "redis_killed":
        p = start(["--coupling=loose"])
        victim, kids, t_kill = kill_child_midrun(p, "redis-server")
        expect_exit, expect_reason = (1, "redis")
    elif case == "unreachable_server":
        t_kill = time.time()
        victim = True
        base[base.index("coupling.timeout_s=5")] = "coupling.timeout_s=2"
        p = start(["--coupling=loose", f"--server=127.0.0.1:{free_port()}"])
        kids = []
        expect_exit, expect_reason = (1, "unreachable")
    elif case in ("sigint", "sigterm", "sigterm_duplicate"):
        # Short repetitions, so some complete before the signal; the partial
        # result keeps them and is marked interrupted.
        # sigterm_duplicate: the same signal again 0.1 s later, as a scheduler
        # that signals every process of a job and a sweep passing it on both
        # deliver it: one request to stop, still a clean partial result.
        sig = signal.SIGINT if case == "sigint" else signal.SIGTERM
        base[base.index("--min-time-s=60")] = "--min-time-s=1"
        base[base.index("--repetitions=1")] = "--repetitions=50"
        p = start(["--coupling=loose"])
        victim = wait_for_child(p.pid, "redis-server")
        wait_for_child(p.pid, " serve ")
        kids = children(p.pid)
        time.sleep(6.0)
        t_kill = time.time()
        p.send_signal(sig)
        if case == "sigterm_duplicate":
            time.sleep(0.1)
            p.send_signal(sig)
        expect_exit, expect_reason = (128 + sig, "interrupted")
    elif case == "external_server_killed":
        # A server the run did not start (--server): watched by probing it.
        srv = subprocess.Popen([exe, "serve", "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
        line = srv.stdout.readline()
        endpoint = line.strip().split("listening on ")[-1]
        p = start(["--coupling=loose", f"--server={endpoint}"])
        wait_for_child(p.pid, "redis-server")
        kids = children(p.pid)
        time.sleep(2.0)
        srv.kill()
        srv.wait()
        victim, t_kill = srv.pid, time.time()
        expect_exit, expect_reason = (1, "inference server")
    elif case == "member_killed":
        # Dynamic Orchestration with its members as processes: one member dies.
        base = [exe, "--motif=dynamic_orchestration", "--size=small", f"--out={out}", "--quiet", "--repetitions=50",
                "--set", "ensemble.members_as=processes", "--set", "coupling.timeout_s=5"]
        p = start(["--coupling=tight"])
        victim, kids, t_kill = kill_child_midrun(p, "motifbench-do-member")
        expect_exit, expect_reason = (1, "worker member")
    elif case.startswith("watch:"):
        # Every motif that uses remote services, at the default size and
        # settings: the death is noticed by the watcher, not when the motif
        # happens to touch the service.
        _, motif, component = case.split(":")
        # Many repetitions: budget-bound mini-apps finish one in a second or
        # two, and the services outlive repetitions, so the fault lands mid-run.
        base = [exe, f"--motif={motif}", "--size=small", f"--out={out}", "--quiet", "--repetitions=50",
                "--min-time-s=60", "--set", "coupling.timeout_s=5"]
        if component == "server":
            p = start(["--coupling=semi-tight"])
            victim, kids, t_kill = kill_child_midrun(p, " serve ")
            expect_exit, expect_reason = (1, "inference server")
        else:
            p = start(["--coupling=loose"])
            victim, kids, t_kill = kill_child_midrun(p, "redis-server")
            expect_exit, expect_reason = (1, "redis")
    else:
        print(__doc__)
        return 2
    if not victim:
        p.kill()
        print(f"FAIL {case}: the component to fail never started")
        return 1
    stdout, stderr, took = await_end(p, t_kill, problems)
    if p.returncode != expect_exit:
        problems.append(f"exit status {p.returncode}, expected {expect_exit}")
    if expect_reason is not None:
        if expect_reason not in stderr:
            problems.append(f"stderr does not name the component ({expect_reason!r})")
        try:
            with open(out) as f:
                doc = json.load(f)
            if doc.get("valid") is not False:
                problems.append("result not marked invalid")
            elif not any(expect_reason in r for r in doc.get("invalid_reasons", [])):
                problems.append(f"invalid_reasons lack {expect_reason!r}: {doc.get('invalid_reasons')}")
            elif case.startswith("sig") and len(doc.get("repetitions", [])) < 1:
                problems.append("the partial result lost the completed repetitions")
            elif case == "unreachable_server":
                problems += unmeasured_figures(doc)
            v = subprocess.run([exe, "validate", out], capture_output=True, text=True)
            if v.returncode != 0:
                problems.append(f"the result fails the tool's own validate: {v.stdout.strip()[:300]}")
        except (OSError, ValueError) as e:
            problems.append(f"no readable result: {e}")
    time.sleep(0.5)  # let the kernel reap killed children
    left = leftovers(p.pid, kids)
    if left:
        problems.append(f"left behind: {left}")
    if problems:
        print(f"FAIL {case}: " + "; ".join(problems))
        print("stderr:", stderr[-1500:])
        return 1
    print(f"ok {case}: ended {took:.2f} s after the fault, exit {p.returncode}, nothing left behind")
    print(f"  stderr: {stderr.strip().splitlines()[-1] if stderr.strip() else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
