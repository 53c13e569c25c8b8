"""digital_replica: its science check and bad-input cases, run by tests/.

one_seed(run, seed): run(name, args, seed) runs motifbench at size tiny and
returns the result document; returns (won, line to print). The check passes
when the AI wins on at least WINS_NEEDED of SEEDS (tests/science).
BAD_INPUT: (label, args, text the error message must contain).
(The harness's own bad-input cases use this mini-app too; they live in
tests/bad_input/.)
"""
BAD_INPUT = [
    ("grid beyond memory", ["--set", "grid.nx=65536", "--set", "grid.ny=65536"], "GiB per rank"),
]

SEEDS = range(1, 11)  # not chosen to pass: the first ten
WINS_NEEDED = 8
FIDELITY_BOUND = 0.05  # relative L2 deviation from the exact-closure run, time-averaged and at the end
CLAIM = (f"after the drift every retraining lowers the surrogate's error, the last check passes the threshold, and "
         f"the replica stays within {FIDELITY_BOUND} (relative L2, time-averaged and final) of an exact-closure run "
         f"of the same seed")


def one_seed(run, seed):
    """Drift detection and retraining keep the replica faithful to the exact run (fidelity.shadow)."""
    doc = run("dr_drift", ["--coupling=tight", "--set", "fidelity.shadow=true"], seed)
    m = doc["repetitions"][0]["motif_metrics"]
    s = m["scalars"]
    threshold = float(doc["run"]["config_effective"]["check.threshold"])
    drift = [e for e in m["events"] if e["kind"] == "drift"]
    after = [e["fields"] for e in m["events"] if e["kind"] == "retrain" and drift and
             e["fields"]["step_index"] >= drift[0]["fields"]["step_index"]]
    lowered = bool(after) and all(e["error_after_fraction"] < e["error_before_fraction"] for e in after)
    won = bool(drift) and lowered and s["surrogate_error_last_fraction"] <= threshold and \
        s["fidelity_mean_l2_fraction"] <= FIDELITY_BOUND and s["fidelity_final_l2_fraction"] <= FIDELITY_BOUND
    line = (f"seed {seed:2d}: retrains after drift " +
            ", ".join(f"{e['error_before_fraction']:.3f}->{e['error_after_fraction']:.3f}" for e in after) +
            f"; last check {s['surrogate_error_last_fraction']:.3f}; fidelity mean {s['fidelity_mean_l2_fraction']:.4f}"
            f" max {s['fidelity_max_l2_fraction']:.4f} final {s['fidelity_final_l2_fraction']:.4f}: "
            f"{'win' if won else 'LOSS'}")
    return won, line
