"""digital_replica: its science check and bad-input cases, run by tests/.

science(run): run(name, args) runs motifbench at size tiny with a fixed seed
and returns the result document. Returns (ok, lines to print).
BAD_INPUT: (label, args, text the error message must contain).
(The harness's own bad-input cases use this mini-app too; they live in
tests/bad_input/.)
"""
BAD_INPUT = [
    ("grid beyond memory", ["--set", "grid.nx=65536", "--set", "grid.ny=65536"], "GiB per rank"),
]


def science(run):
    """After the drift, every retraining lowers the surrogate's error."""
    m = run("dr_drift", ["--coupling=tight"])["repetitions"][0]["motif_metrics"]
    drift = [e for e in m["events"] if e["kind"] == "drift"]
    after = [e["fields"] for e in m["events"] if e["kind"] == "retrain" and drift and
             e["fields"]["step_index"] >= drift[0]["fields"]["step_index"]]
    lines = [f"retrain at step {e['step_index']:.0f}: error {e['error_before_fraction']:.4f} -> "
             f"{e['error_after_fraction']:.4f}" for e in after]
    ok = bool(drift) and bool(after) and all(e["error_after_fraction"] < e["error_before_fraction"] for e in after)
    return ok, lines
