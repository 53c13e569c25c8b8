"""multistage_pipeline: its science check and bad-input cases, run by tests/.

one_seed(run, seed): run(name, args, seed) runs motifbench at size tiny and
returns the result document; returns (won, line to print). The check passes
when the AI wins on at least WINS_NEEDED of SEEDS (tests/science).
BAD_INPUT: (label, args, text the error message must contain).
"""
BAD_INPUT = [
    ("filter fraction 0", ["--set", "filter.fraction=0"], "filter.fraction must be in (0, 1]"),
    ("filter fraction above 1", ["--set", "filter.fraction=1.5"], "filter.fraction"),
]

SEEDS = range(1, 11)  # not chosen to pass: the first ten
WINS_NEEDED = 8
CLAIM = "the AI filter recovers more of the true top-k than a random filter, for the same physics evaluations"


def one_seed(run, seed):
    """AI filter against a random filter of the same physics cost."""
    metrics = lambda doc: doc["repetitions"][0]["motif_metrics"]["scalars"]
    ai = metrics(run("msp_ai", ["--coupling=tight"], seed))
    rnd = metrics(run("msp_random", ["--coupling=none"], seed))
    won = ai["physics_evaluations_count"] == rnd["physics_evaluations_count"] and \
        ai["top_k_recovered_fraction"] > rnd["top_k_recovered_fraction"]
    line = (f"seed {seed:2d}: top-{ai['true_top_k_count']:.0f} recovered AI {ai['top_k_recovered_fraction']:.3f} vs "
            f"random {rnd['top_k_recovered_fraction']:.3f} with {ai['physics_evaluations_count']:.0f} physics "
            f"evaluations each: {'win' if won else 'LOSS'}")
    return won, line
