"""multistage_pipeline: its science check and bad-input cases, run by tests/.

science(run): run(name, args) runs motifbench at size tiny with a fixed seed
and returns the result document. Returns (ok, lines to print).
BAD_INPUT: (label, args, text the error message must contain).
"""
BAD_INPUT = [
    ("filter fraction 0", ["--set", "filter.fraction=0"], "filter.fraction must be in (0, 1]"),
    ("filter fraction above 1", ["--set", "filter.fraction=1.5"], "filter.fraction"),
]


def science(run):
    """The AI filter recovers more of the true top-k than a random filter, for
    the same physics evaluations."""
    metrics = lambda doc: doc["repetitions"][0]["motif_metrics"]["scalars"]
    ai = metrics(run("msp_ai", ["--coupling=tight"]))
    rnd = metrics(run("msp_random", ["--coupling=none"]))
    lines = [f"{tag:14s}: recovered {m['top_k_recovered_fraction']:.3f} of the true top-{m['true_top_k_count']:.0f} "
             f"with {m['physics_evaluations_count']:.0f} physics evaluations"
             for tag, m in (("AI filter", ai), ("random filter", rnd))]
    ok = ai["physics_evaluations_count"] == rnd["physics_evaluations_count"] and \
        ai["top_k_recovered_fraction"] > rnd["top_k_recovered_fraction"]
    return ok, lines
