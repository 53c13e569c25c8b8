"""inverse_design: its science check and bad-input cases, run by tests/.

science(run): run(name, args) runs motifbench at size tiny with a fixed seed
and returns the result document. Returns (ok, lines to print).
BAD_INPUT: (label, args, text the error message must contain).
"""
BAD_INPUT = [
    ("initial design over budget", ["--set", "design.initial=500"], "design.initial must be in [1, design.budget - 1]"),
    ("unknown strategy", ["--set", "design.strategy=guess"], "one of surrogate, evolution, random"),
]


def science(run):
    """The surrogate-guided search solves with fewer forward simulations than
    random search."""
    metrics = lambda doc: doc["repetitions"][0]["motif_metrics"]["scalars"]
    s = metrics(run("id_surrogate", ["--coupling=tight"]))
    r = metrics(run("id_random", ["--coupling=tight", "--set", "design.strategy=random"]))
    lines = [f"{tag:9s}: solved {m['solved_count']:.0f}, forward simulations {m['forward_simulations_count']:.0f}, "
             f"best misfit {m['best_misfit_fraction']:.4f}, parameter error {m['parameter_error_fraction']:.4f}"
             for tag, m in (("surrogate", s), ("random", r))]
    ok = s["solved_count"] == 1 and s["forward_simulations_count"] < r["forward_simulations_count"] and \
        (r["solved_count"] == 0 or r["forward_simulations_count"] > s["forward_simulations_count"])
    return ok, lines
