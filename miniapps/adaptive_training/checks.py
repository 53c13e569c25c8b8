"""adaptive_training: its science check and bad-input cases, run by tests/.

science(run): run(name, args) runs motifbench at size tiny with a fixed seed
and returns the result document. Returns (ok, lines to print).
BAD_INPUT: (label, args, text the error message must contain).
"""
BAD_INPUT = [
    ("population of 0", ["--set", "population.size=0"], "expected an integer in [1,"),
    ("target accuracy 0", ["--set", "target.accuracy=0"], "target.accuracy must be in (0, 1]"),
    ("target accuracy above 1", ["--set", "target.accuracy=1.2"], "target.accuracy"),
]


def science(run):
    """ASHA reaches the target accuracy with fewer training samples than
    training every trial to the end."""
    metrics = lambda doc: doc["repetitions"][0]["motif_metrics"]["scalars"]
    asha = metrics(run("at_asha", ["--coupling=tight"]))
    full = metrics(run("at_full", ["--coupling=tight", "--set", "search.early_stopping=false"]))
    lines = [f"{tag:13s}: reached {m['reached_target_count']:.0f}, samples to target "
             f"{m.get('samples_to_target_count', float('nan')):.0f}, trials {m['trials_started_count']:.0f} started / "
             f"{m['trials_stopped_count']:.0f} stopped, best accuracy {m['best_accuracy_fraction']:.3f}"
             for tag, m in (("ASHA", asha), ("no early stop", full))]
    ok = asha["reached_target_count"] == 1 and (full["reached_target_count"] == 0 or
                                                asha["samples_to_target_count"] < full["samples_to_target_count"])
    return ok, lines
