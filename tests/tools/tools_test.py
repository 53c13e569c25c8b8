#!/usr/bin/python3
"""`motifbench validate`, `compare`, `sweep` and the plot script, on the
fixtures in tests/tools/fixtures and on a real tiny sweep.

Usage: tools_test.py MOTIFBENCH SOURCE_DIR SCRATCH_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys

failures = []


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)


def expect(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"))
    if not cond:
        failures.append(name)


def main():
    exe, src, scratch = sys.argv[1:4]
    fx = os.path.join(src, "tests", "tools", "fixtures")
    f = lambda n: os.path.join(fx, n)  # noqa: E731
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)

    # validate
    r = run([exe, "validate", f("base.json"), f("slower.json"), f("faster.json"), f("noisy_same.json")])
    expect("validate: good fixtures pass", r.returncode == 0, r.stdout)
    r = run([exe, "validate", f("schema_invalid.json")])
    expect("validate: schema-invalid exits 1", r.returncode == 1, r.returncode)
    expect("validate: names file and JSON path", "schema_invalid.json: $.run.coupling" in r.stdout and
           "$.summary.measured_s: required key is missing" in r.stdout, r.stdout)
    r = run([exe, "validate", f("truncated.json")])
    expect("validate: truncated is a clear error, not a crash", r.returncode == 1 and "not valid JSON" in r.stdout, r)
    r = run([exe, "validate", f("other_major.json")])
    expect("validate: other major refused", r.returncode == 1 and "major version 2" in r.stdout, r.stdout)
    r = run([exe, "validate"])
    expect("validate: no files is a usage error", r.returncode == 2, r.returncode)

    # compare
    def verdicts(out):
        doc = json.loads(out)
        return [m["verdict"] for run_ in doc["runs"] for m in run_["metrics"]], doc

    def context_differences(*args):
        """compare --format=json of args: (exit code, {field: (base, new)} of its first run)."""
        r = run([exe, "compare", *args, "--format=json"])
        _, doc = verdicts(r.stdout)
        runs_ = doc["runs"]
        return r.returncode, ({d["field"]: (d["base"], d["new"]) for d in runs_[0]["context_differences"]}
                              if runs_ else {})

    r = run([exe, "compare", f("base.json"), f("identical.json"), "--format=json"])
    v, _ = verdicts(r.stdout)
    expect("compare identical: all SAME, exit 0", r.returncode == 0 and v and set(v) == {"SAME"}, (r.returncode, v))
    r = run([exe, "compare", f("base.json"), f("slower.json"), "--format=json"])
    v, doc = verdicts(r.stdout)
    lat = [m for run_ in doc["runs"] for m in run_["metrics"] if m["metric"].startswith("latency.") and m["metric"].endswith("p50_ns")]
    expect("compare slower: exit 1", r.returncode == 1, r.returncode)
    expect("compare slower: latencies x2 are SLOWER by +100%",
           lat and all(m["verdict"] == "SLOWER" and abs(m["change_fraction"] - 1.0) < 1e-9 for m in lat), lat[:2])
    expect("compare slower: no FASTER", "FASTER" not in v, v)
    r = run([exe, "compare", f("base.json"), f("faster.json"), "--format=json"])
    v, _ = verdicts(r.stdout)
    expect("compare faster: FASTER and exit 0", r.returncode == 0 and "FASTER" in v and "SLOWER" not in v, (r.returncode, v))
    r = run([exe, "compare", f("base.json"), f("noisy_same.json"), "--format=json"])
    v, _ = verdicts(r.stdout)
    expect("compare noisy-but-same: all SAME, exit 0", r.returncode == 0 and set(v) == {"SAME"}, (r.returncode, v))
    r = run([exe, "compare", f("base.json"), f("other_major.json")])
    expect("compare other major: refused with the reason, exit 2", r.returncode == 2 and "major version 2" in r.stderr, r.stderr)
    r = run([exe, "compare", f("base.json"), f("truncated.json")])
    expect("compare truncated: clear error, exit 2", r.returncode == 2 and "not valid JSON" in r.stderr, r.stderr)
    r = run([exe, "compare", f("base.json"), f("schema_invalid.json")])
    expect("compare schema-invalid: exit 2", r.returncode == 2, r.returncode)
    r = run([exe, "compare", f("base.json"), f("slower.json")])
    expect("compare table: readable, names the verdicts", "SLOWER" in r.stdout and "regression(s)" in r.stdout, r.stdout[-300:])
    r = run([exe, "compare", f("base.json"), f("slower.json"), "--threshold=1.5", "--format=json"])
    v, _ = verdicts(r.stdout)
    expect("compare: a threshold above the change gives SAME", r.returncode == 0 and set(v) == {"SAME"}, v)

    # sweep: one result per cell plus an index; a failing cell does not stop it
    out = os.path.join(scratch, "sweep")
    r = run([exe, "sweep", "--motif=digital_replica", "--coupling=all", "--size=tiny", f"--out-dir={out}",
             "--repetitions=1"])
    expect("sweep: exit 0", r.returncode == 0, r.stdout + r.stderr)
    index = json.load(open(os.path.join(out, "index.json")))
    cells = index["cells"]
    expect("sweep: four cells, all ok", len(cells) == 4 and all(c["status"] == "ok" for c in cells), cells)
    results = [os.path.join(out, c["result"]) for c in cells]
    r = run([exe, "validate"] + results)
    expect("sweep: every result validates", r.returncode == 0, r.stdout)
    bad = os.path.join(scratch, "sweep_bad")
    r = run([exe, "sweep", "--motif=digital_replica", "--coupling=tight,none", "--size=tiny", f"--out-dir={bad}",
             "--repetitions=1", "--set", "surrogate.path=/nonexistent/model.pt"])
    index = json.load(open(os.path.join(bad, "index.json")))
    status = {c["coupling"]: c["status"] for c in index["cells"]}
    expect("sweep: failing cell recorded, the rest carries on",
           r.returncode == 1 and status.get("tight") == "invalid" and status.get("none") == "ok", (r.returncode, status))
    r = run([exe, "compare", out, out])
    expect("compare directories: all matched, exit 0", r.returncode == 0 and "4 matched, 0 unmatched" in r.stdout, r.stdout[-200:])
    r = run([exe, "compare", out, bad])
    expect("compare directories: unmatched runs reported", "unmatched in BASE" in r.stdout, r.stdout[-400:])
    expect("compare directories: nothing matched is an error (exit 2)", r.returncode == 2, r.returncode)
    # A result from before a config key existed still matches on the keys both
    # have, and the key is listed; a key whose value differs is another config.
    older = os.path.join(scratch, "sweep_older")
    shutil.rmtree(older, ignore_errors=True)
    shutil.copytree(out, older)
    tight_file = os.path.join(older, "digital_replica_tight_tiny.json")
    doc = json.load(open(tight_file))
    value = doc["run"]["config_effective"].pop("coupling.rpc")
    doc["run"]["config_hash"] = "0123456789abcdef"
    json.dump(doc, open(tight_file, "w"))
    r = run([exe, "compare", older, out])
    expect("compare: a key added since BASE does not hide the run",
           r.returncode == 0 and "4 matched, 0 unmatched" in r.stdout and
           f"config keys only in NEW (matched on the keys both have): coupling.rpc={value}" in r.stdout, r.stdout[-600:])
    doc["run"]["config_effective"]["coupling.timeout_s"] = "7"
    json.dump(doc, open(tight_file, "w"))
    r = run([exe, "compare", older, out])
    expect("compare: a key with another value is another config, named",
           r.returncode == 1 and "MISSING: digital_replica/tight/tiny" in r.stdout and
           "NEW has it with another config: coupling.timeout_s 7 -> 10" in r.stdout, r.stdout[-600:])
    missing = os.path.join(scratch, "sweep_missing")
    shutil.copytree(out, missing)
    os.remove(os.path.join(missing, "digital_replica_tight_tiny.json"))
    r = run([exe, "compare", out, missing])
    expect("compare directories: a baseline run missing from NEW is a regression (exit 1)",
           r.returncode == 1 and "MISSING: digital_replica/tight/tiny" in r.stdout, (r.returncode, r.stdout[-400:]))
    r = run([exe, "compare", out, missing, "--allow-missing"])
    expect("compare --allow-missing: reported, not a regression", "MISSING" not in r.stdout and
           "unmatched in BASE" in r.stdout, r.stdout[-300:])

    # An invalid NEW run is a regression even when its figures look the same.
    doc = json.load(open(f("identical.json")))
    doc["valid"] = False
    doc["invalid_reasons"] = ["repetition 0: inference server 0 died"]
    invalid = os.path.join(scratch, "identical_invalid.json")
    json.dump(doc, open(invalid, "w"))
    r = run([exe, "compare", f("base.json"), invalid])
    expect("compare: valid BASE vs invalid NEW is a regression (exit 1)",
           r.returncode == 1 and "INVALID" in r.stdout and "server 0 died" in r.stdout, (r.returncode, r.stdout[-300:]))
    # Nothing matched: an error, not a pass.
    r = run([exe, "compare", f("base.json"), results[0]])
    expect("compare: zero matched runs exits 2", r.returncode == 2 and "nothing was compared" in r.stderr,
           (r.returncode, r.stderr))
    r = run([exe, "compare", f("base.json"), f("slower.json"), "--threshold=nan"])
    expect("compare: --threshold=nan refused", r.returncode == 2, (r.returncode, r.stdout[-200:]))

    # A latency channel on one side only: listed, without a verdict, not a regression.
    doc = json.load(open(f("identical.json")))
    for rep in doc["repetitions"]:
        rep["latency"]["rpc_request_leg"] = rep["latency"].pop("staging_get")
    renamed = os.path.join(scratch, "identical_renamed_channel.json")
    json.dump(doc, open(renamed, "w"))
    r = run([exe, "compare", f("base.json"), renamed, "--format=json"])
    v, doc = verdicts(r.stdout)
    only_base = doc["runs"][0]["metrics_only_in_base"] if doc["runs"] else None
    only_new = doc["runs"][0]["metrics_only_in_new"] if doc["runs"] else None
    expect("compare: metrics on one side only are listed, exit 0",
           r.returncode == 0 and set(v) == {"SAME"} and
           only_base == ["latency.staging_get.p50_ns", "latency.staging_get.p99_ns"] and
           only_new == ["latency.rpc_request_leg.p50_ns", "latency.rpc_request_leg.p99_ns"],
           (r.returncode, only_base, only_new))
    r = run([exe, "compare", f("base.json"), renamed])
    expect("compare table: names the metrics on one side only",
           "only in BASE (no verdict): latency.staging_get.p50_ns" in r.stdout and
           "only in NEW (no verdict): latency.rpc_request_leg.p50_ns" in r.stdout, r.stdout[-500:])
    # Context that moves figures by itself (another host, steps on another
    # CPU) is listed beside the run, without a verdict of its own; a CPU that
    # took under a tenth of a rank's steps is no placement of its own.
    placed = {}
    for side, host, steps in (("base", "vm", [(1, 60)]), ("new", "node7", [(0, 57), (1, 3)])):
        doc = json.load(open(f("identical.json")))
        doc["context"]["host"] = host
        doc["context"]["cpu_placement"] = [{"rank_index": 0, "host": host, "allowed_cpus": "0-1", "allowed_cpus_count": 2,
                                            "step_cpus": [{"cpu_index": c, "steps_count": n} for c, n in steps]}]
        placed[side] = os.path.join(scratch, f"placed_{side}.json")
        json.dump(doc, open(placed[side], "w"))
    r = run([exe, "compare", placed["base"], placed["new"], "--format=json"])
    v, doc = verdicts(r.stdout)
    differs = doc["runs"][0]["context_differences"] if doc["runs"] else None
    expect("compare: a differing host and step CPUs are listed, no verdict of their own, exit 0",
           r.returncode == 0 and set(v) == {"SAME"} and differs == [
               {"field": "cpu_placement.step_cpus", "base": "rank 0: 1", "new": "rank 0: 0"},
               {"field": "host", "base": "vm", "new": "node7"}], (r.returncode, differs))
    # Semi-tight: where the servers computed is listed the same way (CPUs
    # with a tenth of the calls or more); a result without it lists nothing.
    served = {}
    for side, calls in (("base", [(1, 95), (0, 5)]), ("new", [(0, 100)])):
        doc = json.load(open(placed[side]))
        doc["context"]["cpu_placement"][0]["server_cpus"] = [{"cpu_index": c, "calls_count": n} for c, n in calls]
        served[side] = os.path.join(scratch, f"served_{side}.json")
        json.dump(doc, open(served[side], "w"))
    rc, differs = context_differences(served["base"], served["new"])
    expect("compare: the CPUs the servers computed on are listed when they differ",
           rc == 0 and differs.get("cpu_placement.server_cpus") == ("rank 0: 1", "rank 0: 0"), (rc, differs))
    r = run([exe, "compare", placed["base"], served["new"], "--format=json"])
    _, doc = verdicts(r.stdout)
    fields = [d["field"] for d in doc["runs"][0]["context_differences"]] if doc["runs"] else None
    expect("compare: a result that does not record the servers' CPUs lists no difference for them",
           r.returncode == 0 and fields is not None and "cpu_placement.server_cpus" not in fields, (r.returncode, fields))
    # A wake-up latency limit held on one side only (run.cpu_wakeup_latency_us)
    # is listed, as the idle driver is.
    idled = {}
    for side, detail in (("base", "not requested"),
                         ("new", "held at 0 us through /dev/cpu_dma_latency (the kernel's limit: 0 us)")):
        doc = json.load(open(placed["base"]))
        doc["context"]["cpu_idle"] = {"driver": "haltpoll", "states": [{"name": "POLL", "exit_latency_us": 0,
                                                                        "disabled": False}],
                                      "wakeup_latency_limit": {"requested_us": None if side == "base" else 0,
                                                               "held": side == "new", "effective": side == "new",
                                                               "detail": detail}}
        idled[side] = os.path.join(scratch, f"idled_{side}.json")
        json.dump(doc, open(idled[side], "w"))
    rc, differs = context_differences(idled["base"], idled["new"])
    expect("compare: a wake-up latency limit held on one side is listed",
           rc == 0 and differs.get("cpu_idle.wakeup_latency_limit.detail", ("", ""))[1].startswith("held at 0")
           and differs.get("cpu_idle.wakeup_latency_limit.effective") == ("false", "true")
           and "cpu_idle.driver" not in differs, (rc, differs))
    r = run([exe, "compare", placed["base"], placed["new"]])
    expect("compare table: names the differing context",
           "context differs" in r.stdout and "rank 0: 1 -> rank 0: 0" in r.stdout and "vm -> node7" in r.stdout,
           r.stdout[-500:])
    r = run([exe, "compare", f("base.json"), f("identical.json"), "--format=json"])
    _, doc = verdicts(r.stdout)
    expect("compare identical: no context differs", doc["runs"] and doc["runs"][0]["context_differences"] == [],
           doc["runs"][0].get("context_differences") if doc["runs"] else None)
    expect("compare identical: no metric on one side only",
           doc["runs"] and not doc["runs"][0]["metrics_only_in_base"] and not doc["runs"][0]["metrics_only_in_new"],
           doc["runs"][:1])

    # --pool: the same run from several sweeps is one baseline, and the drift
    # between their medians is noise. Two baseline sweeps 30% apart (the
    # base fixture and the same timings x1.3) pool to a spread of 10-25%
    # (the middle of the pooled repetitions, against each sweep's median), so
    # a change must exceed twice that: x1.4 of the faster sweep is within it
    # (that sweep alone calls it SLOWER), x2 is not.
    sys.path.insert(0, os.path.join(src, "tests", "tools"))
    from make_fixtures import scale_time
    pooled_base = os.path.join(scratch, "pool", "base")
    for sweep, factor in (("sweep-1", 1.0), ("sweep-2", 1.3)):
        os.makedirs(os.path.join(pooled_base, sweep))
        doc = json.load(open(f("base.json")))
        scale_time(doc, factor)
        json.dump(doc, open(os.path.join(pooled_base, sweep, "digital_replica.json"), "w"))
    for name, factor in (("within_drift", 1.4), ("beyond_drift", 2.0)):
        doc = json.load(open(f("base.json")))
        scale_time(doc, factor)
        json.dump(doc, open(os.path.join(scratch, "pool", name + ".json"), "w"))
    within = os.path.join(scratch, "pool", "within_drift.json")
    r = run([exe, "compare", os.path.join(pooled_base, "sweep-1"), within, "--format=json"])
    v, _ = verdicts(r.stdout)
    expect("compare: one baseline sweep calls x1.4 SLOWER", r.returncode == 1 and "SLOWER" in v, (r.returncode, v))
    r = run([exe, "compare", pooled_base, within, "--pool", "--format=json"])
    v, doc = verdicts(r.stdout)
    steps = [m for run_ in doc["runs"] for m in run_["metrics"] if m["metric"] == "steps_per_s"]
    expect("compare --pool: two sweeps are one run of 12 repetitions, their spread reported",
           len(doc["runs"]) == 1 and doc["runs"][0]["base_runs_count"] == 2 and steps and
           steps[0]["base_samples_count"] == 12 and 0.05 < steps[0]["between_runs_spread_fraction"] < 0.3,
           doc["runs"][:1] and steps)
    expect("compare --pool: a change within twice the drift between sweeps is SAME, exit 0",
           r.returncode == 0 and set(v) == {"SAME"}, (r.returncode, v))
    r = run([exe, "compare", pooled_base, os.path.join(scratch, "pool", "beyond_drift.json"), "--pool"])
    expect("compare --pool: a change beyond it is SLOWER, exit 1, the method names the spread",
           r.returncode == 1 and "SLOWER" in r.stdout and "2+1 runs" in r.stdout, (r.returncode, r.stdout[-400:]))
    # A metric that only a later sweep has (a channel added between sweeps)
    # is pooled from the runs that have it, not dropped.
    grown_base = os.path.join(scratch, "pool", "grown")
    for sweep, extra in (("sweep-1", False), ("sweep-2", True)):
        os.makedirs(os.path.join(grown_base, sweep))
        doc = json.load(open(f("base.json")))
        if extra:
            for rep in doc["repetitions"]:
                rep["latency"]["rpc_request_leg"] = dict(rep["latency"]["staging_get"])
        json.dump(doc, open(os.path.join(grown_base, sweep, "digital_replica.json"), "w"))
    r = run([exe, "compare", grown_base, os.path.join(grown_base, "sweep-2", "digital_replica.json"), "--pool",
             "--format=json"])
    _, doc = verdicts(r.stdout)
    leg = [m for run_ in doc["runs"] for m in run_["metrics"] if m["metric"] == "latency.rpc_request_leg.p50_ns"]
    expect("compare --pool: a metric only a later sweep has is kept, from that sweep's repetitions",
           r.returncode == 0 and doc["runs"] and not doc["runs"][0]["metrics_only_in_new"] and leg and
           leg[0]["base_samples_count"] == 6 and leg[0]["verdict"] == "SAME",
           (r.returncode, doc["runs"][:1] and doc["runs"][0]["metrics_only_in_new"], leg))
    # A context field that only a later sweep records (cpu_placement came in
    # a later schema) is pooled too: the sweeps without it say "not recorded".
    mixed_base = os.path.join(scratch, "pool", "mixed")
    for sweep, src_doc in (("sweep-1", f("identical.json")), ("sweep-2", placed["base"])):
        os.makedirs(os.path.join(mixed_base, sweep))
        doc = json.load(open(src_doc))
        doc["context"]["host"] = "vm"
        if sweep == "sweep-1":
            doc["context"].pop("cpu_placement", None)
        json.dump(doc, open(os.path.join(mixed_base, sweep, "digital_replica.json"), "w"))
    rc, differs = context_differences(mixed_base, placed["new"], "--pool")
    expect("compare --pool: a context field only a later sweep records is listed with the sweeps that lack it",
           rc == 0 and differs.get("cpu_placement.step_cpus") == ("not recorded | rank 0: 1", "rank 0: 0")
           and differs.get("host") == ("vm", "node7"), (rc, differs))
    r = run([exe, "compare", pooled_base, within])
    expect("compare without --pool: the second sweep has no counterpart (MISSING)",
           r.returncode == 1 and "MISSING" in r.stdout, (r.returncode, r.stdout[-300:]))

    # The CI recipe: checks for a baseline before sweeping, and keeps the
    # sweep's exit code (a failing cell fails the recipe even if compare passes).
    fake = os.path.join(scratch, "fake_motifbench.sh")
    calls = os.path.join(scratch, "fake_calls.log")
    with open(fake, "w") as fh:
        fh.write("#!/bin/sh\necho \"$1\" >> " + calls + "\n"
                 "case \"$1\" in sweep) mkdir -p \"$MOTIFBENCH_SWEEP_OUT\"; exit 1;; *) exit 0;; esac\n")
    os.chmod(fake, 0o755)
    env = dict(os.environ, MOTIFBENCH_BIN=fake, MOTIFBENCH_MACHINE="fake-machine",
               MOTIFBENCH_BASELINES=os.path.join(scratch, "baselines"),
               MOTIFBENCH_SWEEP_OUT=os.path.join(scratch, "ci-sweep"))
    recipe = os.path.join(src, "scripts", "ci_regression.sh")
    r = run([recipe], env=env)
    called = open(calls).read().split() if os.path.exists(calls) else []
    expect("ci_regression: no baseline is exit 2 before any sweep", r.returncode == 2 and "sweep" not in called,
           (r.returncode, called))
    os.makedirs(os.path.join(scratch, "baselines", "fake-machine"))
    r = run([recipe], env=env)
    called = open(calls).read().split()
    expect("ci_regression: a failing sweep fails the recipe though compare passed",
           r.returncode == 1 and called[-2:] == ["sweep", "compare"], (r.returncode, called, r.stderr[-200:]))

    # A/B against an older build: no stored baseline needed, rounds of one
    # sweep of each binary, then one compare of the pooled sides.
    log = os.path.join(scratch, "fake_args.log")
    logged = os.path.join(scratch, "fake_logged.sh")
    with open(logged, "w") as fh:  # each call's arguments on a line; a sweep writes a result and a log, and passes
        fh.write("#!/bin/sh\necho \"$0 $*\" >> " + log + "\n"
                 "if [ \"$1\" = sweep ]; then for a in \"$@\"; do case \"$a\" in --out-dir=*) d=${a#--out-dir=};; esac; "
                 "done; mkdir -p \"$d\"; echo {} > \"$d/cell.json\"; echo log > \"$d/cell.log\"; fi\nexit 0\n")
    os.chmod(logged, 0o755)
    old = os.path.join(scratch, "old_motifbench.sh")
    shutil.copy(logged, old)
    ab_env = dict(env, MOTIFBENCH_BIN=logged, MOTIFBENCH_BASE_BIN=old, MOTIFBENCH_MACHINE="no-baseline-here",
                  MOTIFBENCH_AB_ROUNDS="2")
    r = run([recipe], env=ab_env)
    lines = open(log).read().splitlines() if os.path.exists(log) else []
    order = [("old" if ln.split()[0] == old else "new") + " " + ln.split()[1] for ln in lines]
    expect("ci_regression A/B: base and new sweeps alternate (ABBA), then one pooled compare, no baseline needed",
           r.returncode == 0 and order == ["old sweep", "new sweep", "new sweep", "old sweep", "new compare"] and
           "--pool" in lines[-1].split() and "/base" in lines[-1] and "/new" in lines[-1],
           (r.returncode, order, lines[-1:], r.stderr[-300:]))
    r = run([recipe], env=dict(ab_env, MOTIFBENCH_BASE_BIN=os.path.join(scratch, "no-such-motifbench")))
    expect("ci_regression A/B: a base binary that is not there is exit 2, named",
           r.returncode == 2 and "no-such-motifbench" in r.stderr, (r.returncode, r.stderr[-200:]))
    # Without MOTIFBENCH_MACHINE the baseline is this CPU model's; a baseline
    # of another model of the same type stands in, named on stderr.
    generic = f"{os.uname().machine}-{os.cpu_count()}cores"
    model = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    slug = "-".join(filter(None, re.split(r"[^a-z0-9]+", model.lower().replace("(r)", "").replace("(tm)", "")))) \
        or "unknown"
    by_model = os.path.join(scratch, "by-model")
    os.makedirs(os.path.join(by_model, generic + "-other-cpu", "sweep-1"))
    model_env = {k: v for k, v in env.items() if k != "MOTIFBENCH_MACHINE"}
    model_env.update(MOTIFBENCH_BIN=logged, MOTIFBENCH_BASELINES=by_model)
    open(log, "w").close()
    r = run([recipe], env=model_env)
    last = open(log).read().splitlines()[-1:]
    expect("ci_regression: without this CPU model's baseline, another model's stands in, said on stderr",
           r.returncode == 0 and last and last[0].split()[1] == "compare" and
           os.path.join(by_model, generic + "-other-cpu") in last[0].split() and
           f"no baseline for this CPU model ({generic}-{slug})" in r.stderr, (r.returncode, last, r.stderr[-300:]))
    os.makedirs(os.path.join(by_model, f"{generic}-{slug}", "sweep-1"))
    r = run([recipe], env=model_env)
    last = open(log).read().splitlines()[-1:]
    expect("ci_regression: this CPU model's baseline is the one compared against",
           r.returncode == 0 and last and os.path.join(by_model, f"{generic}-{slug}") in last[0].split() and
           "no baseline" not in r.stderr, (r.returncode, last, r.stderr[-300:]))
    r = run([recipe, "--refresh"], env=ab_env)
    expect("ci_regression: --refresh with a base binary is refused (exit 2)", r.returncode == 2, r.returncode)
    r = run([recipe], env=dict(ab_env, MOTIFBENCH_AB_ROUNDS="0"))
    expect("ci_regression: zero rounds refused (exit 2)", r.returncode == 2 and "whole number" in r.stderr,
           (r.returncode, r.stderr[-200:]))
    # --refresh records several sweeps (their spread is the allowed drift), without the logs.
    r = run([recipe, "--refresh"], env=dict(env, MOTIFBENCH_BIN=logged, MOTIFBENCH_BASELINE_SWEEPS="2"))
    kept = sorted(os.path.relpath(os.path.join(d, n), os.path.join(scratch, "baselines", "fake-machine"))
                  for d, _, names in os.walk(os.path.join(scratch, "baselines", "fake-machine")) for n in names)
    expect("ci_regression --refresh: MOTIFBENCH_BASELINE_SWEEPS sweeps kept as sweep-1.., no logs",
           r.returncode == 0 and kept == ["sweep-1/cell.json", "sweep-2/cell.json"], (r.returncode, kept, r.stderr[-200:]))

    # plots
    try:
        import matplotlib  # noqa: F401
        have_mpl = True
    except ImportError:
        have_mpl = False
    if have_mpl:
        plots = os.path.join(scratch, "plots")
        r = run([sys.executable, os.path.join(src, "scripts", "plot_results.py"), out, "--out-dir", plots])
        pngs = sorted(os.listdir(plots)) if os.path.isdir(plots) else []
        expect("plots: CDF, phases and throughput PNGs", r.returncode == 0 and len(pngs) == 3 and
               all(os.path.getsize(os.path.join(plots, p)) > 10000 for p in pngs), (r.stderr, pngs))
        r = run([sys.executable, os.path.join(src, "scripts", "plot_results.py"), "--compare", f("base.json"),
                 f("slower.json"), "--out-dir", plots])
        expect("plots: comparison PNG", r.returncode == 0 and os.path.exists(os.path.join(plots, "digital_replica_compare.png")), r.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
