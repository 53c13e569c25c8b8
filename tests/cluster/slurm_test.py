#!/usr/bin/python3
"""A real single-host Slurm cluster runs the job scripts in jobs/slurm/.

Usage: slurm_test.py MOTIFBENCH SOURCE_DIR SCRATCH_DIR
Starts munged, slurmctld and two slurmd (node names mb1 and mb2, both on
127.0.0.1, 4 CPUs declared each) from a generated slurm.conf on free ports,
submits one_node.sbatch (1 node, 2 ranks, every coupling mode),
node_local.sbatch (2 nodes x 2 ranks, semi-tight, a server per node) and
dedicated.sbatch (2 nodes: services on mb1 bound to 127.0.0.1, 2 ranks on
mb2, loose) with sbatch, waits for each with a bound, validates every result,
and stops every daemon it started. The two nodes share one host, so the
node-local layout groups ranks by SLURMD_NODENAME (MOTIFBENCH_NODE_VAR).
Exit 77 (skipped, with the reason) without root or without Slurm.
"""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

JOB_LIMIT_S = 300


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def skip(why):
    print(f"skipped: {why}")
    sys.exit(77)


def write_conf(d, host, ctld_port, slurmd_ports):
    munge_sock = os.path.join(d, "munge", "munge.sock")
    lines = [
        "ClusterName=motifbenchtest", f"SlurmctldHost={host}(127.0.0.1)", f"SlurmctldPort={ctld_port}",
        "SlurmUser=root", "SlurmdUser=root", "AuthType=auth/munge", f"AuthInfo=socket={munge_sock}",
        "CredType=cred/munge", f"StateSaveLocation={d}/state", f"SlurmdSpoolDir={d}/spool_%n",
        f"SlurmctldPidFile={d}/slurmctld.pid", f"SlurmdPidFile={d}/slurmd_%n.pid",
        f"SlurmctldLogFile={d}/log/slurmctld.log", f"SlurmdLogFile={d}/log/slurmd_%n.log",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none", "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core", "MpiDefault=none", "ReturnToService=2",
        # The declared CPUs, not this host's, so that several ranks fit on a node.
        "SlurmdParameters=config_overrides", "KillWait=5", "InactiveLimit=0",
    ]
    for i, port in enumerate(slurmd_ports, start=1):
        lines.append(f"NodeName=mb{i} NodeHostname={host} NodeAddr=127.0.0.1 Port={port} CPUs=4 RealMemory=2000")
    lines.append("PartitionName=debug Nodes=mb1,mb2 Default=YES MaxTime=30 State=UP OverSubscribe=YES")
    conf = os.path.join(d, "slurm.conf")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    for sub in ("state", "spool_mb1", "spool_mb2", "log"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    return conf, munge_sock


def ours(folder):
    """The daemons started here: each names the private folder on its command line."""
    out = subprocess.run(["pgrep", "-f", folder], capture_output=True, text=True).stdout
    return [int(p) for p in out.split() if int(p) != os.getpid()]


def alive(pids):
    return [p for p in pids if os.path.exists(f"/proc/{p}")]


def wait_job(job, env, cwd):
    end = time.time() + JOB_LIMIT_S
    while time.time() < end:
        r = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True, env=env, timeout=30)
        if r.returncode == 0 and not r.stdout.strip():
            return True
        time.sleep(1)
    subprocess.run(["scancel", job], env=env, timeout=30)
    return False


def main():
    exe, source, scratch = sys.argv[1:4]
    exe, source, scratch = os.path.abspath(exe), os.path.abspath(source), os.path.abspath(scratch)
    if os.geteuid() != 0:
        skip("starting slurmctld, slurmd and munged needs root")
    missing = [p for p in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol") if not shutil.which(p)]
    if missing:
        skip(f"Slurm is not installed (missing {', '.join(missing)}; scripts/setup.sh installs it)")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    d = tempfile.mkdtemp(prefix="mbslurm-")  # short: the munge socket path must fit in sun_path
    os.makedirs(os.path.join(d, "munge"), mode=0o700)
    key = os.path.join(d, "munge", "munge.key")
    with open(key, "wb") as f:
        f.write(os.urandom(128))
    os.chmod(key, 0o600)
    host = socket.gethostname()
    conf, munge_sock = write_conf(d, host, free_port(), [free_port(), free_port()])
    env = dict(os.environ, SLURM_CONF=conf)
    problems = []
    daemons = set()
    try:
        r = subprocess.run(["munged", "-f", f"--key-file={key}", f"--socket={munge_sock}",
                            f"--pid-file={d}/munge/munged.pid", f"--log-file={d}/munge/munged.log",
                            f"--seed-file={d}/munge/seed"], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"munged: {r.stderr}")
        for cmd in (["slurmctld", "-f", conf], ["slurmd", "-f", conf, "-N", "mb1"], ["slurmd", "-f", conf, "-N", "mb2"]):
            r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)
            if r.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)}: {r.stderr}")
        daemons |= set(ours(d))
        end = time.time() + 60
        state = ""
        while time.time() < end:
            state = subprocess.run(["sinfo", "-h", "-o", "%t %D"], capture_output=True, text=True, env=env,
                                   timeout=30).stdout.strip()
            if state == "idle 2":
                break
            time.sleep(0.5)
        if state != "idle 2":
            raise RuntimeError(f"the nodes did not come up: sinfo says {state!r}; "
                               f"{open(d + '/log/slurmctld.log').read()[-800:]}")
        results = os.path.join(scratch, "results")
        base_env = dict(env, MOTIFBENCH=exe, MOTIFBENCH_JOBS=os.path.join(source, "jobs"), RESULTS=results,
                        MOTIF="digital_replica", SIZE="tiny", OPENBLAS_NUM_THREADS="1",
                        EXTRA_ARGS="--threads=1 --repetitions=1")
        jobs = [("one_node", ["-N", "1"], {}),
                # Two node names on one host: group ranks by the node name Slurm gives each task.
                ("node_local", ["-N", "2"], {"MOTIFBENCH_NODE_VAR": "SLURMD_NODENAME"}),
                # Loopback only: the services bind to, and the ranks reach them at, 127.0.0.1.
                ("dedicated", ["-N", "2"], {"SERVICE_HOST": "127.0.0.1", "SERVICE_LISTEN": "127.0.0.1"})]
        for layout, args, extra in jobs:
            t0 = time.time()
            r = subprocess.run(["sbatch", "--parsable", "-t", "10", "--ntasks-per-node=2"] + args +
                               [os.path.join(source, "jobs", "slurm", f"{layout}.sbatch")],
                               capture_output=True, text=True, env=dict(base_env, **extra), cwd=scratch, timeout=60)
            if r.returncode != 0:
                problems.append(f"{layout}: sbatch failed: {r.stderr.strip()}")
                continue
            job = r.stdout.strip().split(";")[0]
            finished = wait_job(job, env, scratch)
            log = os.path.join(scratch, f"slurm-{job}.out")
            text = open(log).read() if os.path.exists(log) else "(no job output)"
            if not finished:
                problems.append(f"{layout}: job {job} still running after {JOB_LIMIT_S} s; cancelled")
                continue
            index_file = os.path.join(results, layout, "index.json")
            if not os.path.exists(index_file):
                problems.append(f"{layout}: no index.json; job output: {text[-1500:]}")
                continue
            index = json.load(open(index_file))
            bad = [c for c in index["cells"] if c["status"] != "ok"]
            files = [os.path.join(results, layout, c["result"]) for c in index["cells"] if c["result"]]
            v = subprocess.run([exe, "validate"] + files, capture_output=True, text=True, timeout=120)
            if bad or not files or v.returncode != 0:
                reasons = []
                for f in files:
                    try:
                        reasons += json.load(open(f)).get("invalid_reasons", [])
                    except (OSError, ValueError) as e:
                        reasons.append(f"{f}: {e}")
                logs = "".join(f"; {name}: {open(p).read()[-400:]!r}" for name in ("serve.log", "redis.log")
                               for p in [os.path.join(results, layout, name)] if os.path.exists(p))
                problems.append(f"{layout}: cells not ok {[(c['coupling'], c['reason']) for c in bad]}, "
                                f"invalid_reasons {reasons}, validate exit {v.returncode}; "
                                f"job output: {text[-800:]}{logs}")
                continue
            docs = [json.load(open(f)) for f in files]
            summary = ", ".join(f"{doc['coupling']['mode']} ranks={doc['context']['mpi']['ranks_count']}"
                                for doc in docs)
            if layout == "node_local":
                placed = docs[0]["coupling"]["rank_to_server"]
                nodes = {p["node"]: p["endpoints"] for p in placed}
                if sorted(nodes) != ["mb1", "mb2"] or nodes["mb1"] == nodes["mb2"] or len(placed) != 4:
                    problems.append(f"node_local: rank_to_server {placed}")
                summary += "; " + ", ".join(f"rank {p['rank_index']} on {p['node']} -> {p['endpoints'][0]}"
                                            for p in placed)
            if layout == "dedicated":
                svc = docs[0]["services"]
                if any(s["embedded"] for s in svc) or {s["kind"] for s in svc} != {"inference_server", "redis"}:
                    problems.append(f"dedicated: services {svc}")
                summary += "; services " + ", ".join(f"{s['kind']} {s['endpoint']}" for s in svc)
            if "compare the layouts" not in text:
                problems.append(f"{layout}: the job did not print the compare lines")
            print(f"ok {layout}: job {job} in {time.time() - t0:.0f} s: {summary}")
    except RuntimeError as e:
        problems.append(str(e))
    finally:
        daemons |= set(ours(d))
        for pid in daemons:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        end = time.time() + 20
        while alive(daemons) and time.time() < end:
            time.sleep(0.2)
        for pid in alive(daemons):
            problems.append(f"daemon {pid} needed SIGKILL")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(d, ignore_errors=True)
    if problems:
        print("FAIL: " + " | ".join(problems))
        return 1
    print("ok: every Slurm layout ran, every result validates, every daemon stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
