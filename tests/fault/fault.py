#!/usr/bin/python3
"""Fault tests: a component failing mid-run ends the run promptly with an
invalid result, a non-zero exit and nothing left behind (no child process, no
socket file, no shared-memory segment). Every server is on loopback and every
test is bounded in time.

Usage: fault.py MOTIFBENCH SCRATCH_DIR CASE
CASE: server_killed | redis_killed | unreachable_server | sigint
"""
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

PROMPT_S = 15  # a failure must end the run within this many seconds


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


def leftovers(pid, kids):
    found = [f"process {k} ({cmdline(k).strip()[:60]})" for k in kids if alive(k) and cmdline(k)]
    found += glob.glob(f"/tmp/motifbench-{pid}-*")
    found += glob.glob(f"/dev/shm/motifbench-{pid}-*")
    return found


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    exe, scratch, case = sys.argv[1:4]
    os.makedirs(scratch, exist_ok=True)
    out = os.path.join(scratch, f"{case}.json")
    if os.path.exists(out):
        os.remove(out)
    # Long enough that the fault lands mid-run; frequent retraining so the
    # staging store (Redis in loose mode) is used every other step.
    base = [exe, "--motif=digital_replica", "--size=tiny", f"--out={out}", "--quiet", "--min-time-s=60",
            "--repetitions=1", "--set", "check.every=2", "--set", "check.threshold=0", "--set", "coupling.timeout_s=5"]
    problems = []
    def start(coupling_args):
        return subprocess.Popen(base + coupling_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def kill_child_midrun(p, needle):
        victim = wait_for_child(p.pid, needle)
        kids = children(p.pid)
        time.sleep(2.0)
        if victim:
            os.kill(victim, signal.SIGKILL)
        return victim, kids, time.time()

    if case == "server_killed":
        p = start(["--coupling=semi-tight"])
        victim, kids, t_kill = kill_child_midrun(p, " serve ")
        expect_exit, expect_reason = (1, "inference server")
    elif case == "redis_killed":
        p = start(["--coupling=loose"])
        victim, kids, t_kill = kill_child_midrun(p, "redis-server")
        expect_exit, expect_reason = (1, "redis")
    elif case == "unreachable_server":
        t_kill = time.time()
        victim = True
        p = start(["--coupling=loose", f"--server=127.0.0.1:{free_port()}", "--set", "coupling.timeout_s=2"])
        kids = []
        expect_exit, expect_reason = (1, "unreachable")
    elif case == "sigint":
        p = start(["--coupling=loose"])
        victim = wait_for_child(p.pid, "redis-server")
        wait_for_child(p.pid, " serve ")
        kids = children(p.pid)
        time.sleep(1.0)
        t_kill = time.time()
        p.send_signal(signal.SIGINT)
        expect_exit, expect_reason = (-signal.SIGINT, None)
    else:
        print(__doc__)
        return 2
    if not victim:
        p.kill()
        print(f"FAIL {case}: the component to fail never started")
        return 1
    try:
        stdout, stderr = p.communicate(timeout=PROMPT_S + 60)
    except subprocess.TimeoutExpired:
        p.kill()
        stdout, stderr = p.communicate()
        problems.append("hung")
    took = time.time() - t_kill
    if took > PROMPT_S:
        problems.append(f"took {took:.1f} s to end after the fault (limit {PROMPT_S} s)")
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
