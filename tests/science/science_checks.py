#!/usr/bin/python3
"""Faithfulness checks: the AI decision must change what a workflow does, and
the motif's science metric must show it against a baseline of equal cost that
takes no AI decision. Fixed seeds; each case prints its figures.

Usage: science_checks.py MOTIFBENCH SCRATCH_DIR CASE
CASE: dynamic_orchestration | multistage_pipeline | inverse_design | digital_replica_drift |
      distributed_models | adaptive_training
"""
import json
import os
import subprocess
import sys


def run(exe, scratch, name, args):
    out = os.path.join(scratch, name + ".json")
    r = subprocess.run([exe, "--size=tiny", "--repetitions=1", "--seed=1", "--threads=1", "--quiet", f"--out={out}"] + args,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        print(f"FAIL: {name} exited {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        sys.exit(1)
    with open(out) as f:
        doc = json.load(f)
    return doc["repetitions"][0]["motif_metrics"]


def main():
    exe, scratch, case = sys.argv[1:4]
    os.makedirs(scratch, exist_ok=True)
    ok = True
    if case == "dynamic_orchestration":
        steered = run(exe, scratch, "do_steered", ["--motif=dynamic_orchestration", "--coupling=tight"])["scalars"]
        plain = run(exe, scratch, "do_unsteered", ["--motif=dynamic_orchestration", "--coupling=none"])["scalars"]
        print(f"steered:   coverage {steered['coverage_fraction']:.4f}, wells {steered['wells_visited_count']:.0f}, "
              f"member-steps {steered['member_steps_count']:.0f}, spawns {steered['spawns_count']:.0f}")
        print(f"unsteered: coverage {plain['coverage_fraction']:.4f}, wells {plain['wells_visited_count']:.0f}, "
              f"member-steps {plain['member_steps_count']:.0f}")
        ok = steered["member_steps_count"] == plain["member_steps_count"] and \
            steered["coverage_fraction"] > plain["coverage_fraction"] and steered["spawns_count"] > 0
    elif case == "multistage_pipeline":
        ai = run(exe, scratch, "msp_ai", ["--motif=multistage_pipeline", "--coupling=tight"])["scalars"]
        rnd = run(exe, scratch, "msp_random", ["--motif=multistage_pipeline", "--coupling=none"])["scalars"]
        for tag, m in (("AI filter", ai), ("random filter", rnd)):
            print(f"{tag:14s}: recovered {m['top_k_recovered_fraction']:.3f} of the true top-{m['true_top_k_count']:.0f} "
                  f"with {m['physics_evaluations_count']:.0f} physics evaluations")
        ok = ai["physics_evaluations_count"] == rnd["physics_evaluations_count"] and \
            ai["top_k_recovered_fraction"] > rnd["top_k_recovered_fraction"]
    elif case == "inverse_design":
        s = run(exe, scratch, "id_surrogate", ["--motif=inverse_design", "--coupling=tight"])["scalars"]
        r = run(exe, scratch, "id_random", ["--motif=inverse_design", "--coupling=tight", "--set",
                                            "design.strategy=random"])["scalars"]
        for tag, m in (("surrogate", s), ("random", r)):
            print(f"{tag:9s}: solved {m['solved_count']:.0f}, forward simulations {m['forward_simulations_count']:.0f}, "
                  f"best misfit {m['best_misfit_fraction']:.4f}, parameter error {m['parameter_error_fraction']:.4f}")
        ok = s["solved_count"] == 1 and s["forward_simulations_count"] < r["forward_simulations_count"] and \
            (r["solved_count"] == 0 or r["forward_simulations_count"] > s["forward_simulations_count"])
    elif case == "digital_replica_drift":
        m = run(exe, scratch, "dr_drift", ["--motif=digital_replica", "--coupling=tight"])
        drift = [e for e in m["events"] if e["kind"] == "drift"]
        after = [e["fields"] for e in m["events"] if e["kind"] == "retrain" and drift and
                 e["fields"]["step_index"] >= drift[0]["fields"]["step_index"]]
        for e in after:
            print(f"retrain at step {e['step_index']:.0f}: error {e['error_before_fraction']:.4f} -> {e['error_after_fraction']:.4f}")
        ok = bool(drift) and bool(after) and all(e["error_after_fraction"] < e["error_before_fraction"] for e in after)
    elif case == "distributed_models":
        filt = run(exe, scratch, "dm_filter", ["--motif=distributed_models", "--coupling=tight"])
        full = run(exe, scratch, "dm_all", ["--motif=distributed_models", "--coupling=tight", "--set", "edge.filter=false"])
        p99 = {}
        for tag in ("dm_filter", "dm_all"):
            with open(os.path.join(scratch, tag + ".json")) as f:
                p99[tag] = json.load(f)["summary"]["latency"]["frame_to_insight"]["p99_ns"]
        for tag, m, key in (("edge filter", filt["scalars"], "dm_filter"), ("forward all", full["scalars"], "dm_all")):
            print(f"{tag:11s}: uplink {m['uplink_bytes']:.0f} B, frame-to-insight p99 {p99[key] / 1e6:.1f} ms, "
                  f"dropped {m['frames_dropped_count']:.0f}, recall of interesting frames {m['interesting_recall_fraction']:.3f}")
        ok = filt["scalars"]["uplink_bytes"] < full["scalars"]["uplink_bytes"] and p99["dm_filter"] < p99["dm_all"]
    elif case == "adaptive_training":
        asha = run(exe, scratch, "at_asha", ["--motif=adaptive_training", "--coupling=tight"])["scalars"]
        full = run(exe, scratch, "at_full", ["--motif=adaptive_training", "--coupling=tight", "--set",
                                             "search.early_stopping=false"])["scalars"]
        for tag, m in (("ASHA", asha), ("no early stop", full)):
            print(f"{tag:13s}: reached {m['reached_target_count']:.0f}, samples to target "
                  f"{m.get('samples_to_target_count', float('nan')):.0f}, trials {m['trials_started_count']:.0f} started / "
                  f"{m['trials_stopped_count']:.0f} stopped, best accuracy {m['best_accuracy_fraction']:.3f}")
        ok = asha["reached_target_count"] == 1 and (full["reached_target_count"] == 0 or
                                                    asha["samples_to_target_count"] < full["samples_to_target_count"])
    else:
        print(__doc__)
        return 2
    print("ok" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
