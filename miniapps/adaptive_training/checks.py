"""adaptive_training: its science check and bad-input cases, run by tests/.

one_seed(run, seed): run(name, args, seed) runs motifbench at size tiny and
returns the result document; returns (won, line to print). The check passes
when the AI wins on at least WINS_NEEDED of SEEDS (tests/science).
BAD_INPUT: (label, args, text the error message must contain).
"""
BAD_INPUT = [
    ("population of 0", ["--set", "population.size=0"], "expected an integer in [1,"),
    ("target accuracy 0", ["--set", "target.accuracy=0"], "target.accuracy must be in (0, 1]"),
    ("target accuracy above 1", ["--set", "target.accuracy=1.2"], "target.accuracy"),
]

SEEDS = range(1, 11)  # not chosen to pass: the first ten
WINS_NEEDED = 8
CLAIM = ("ASHA reaches the target accuracy with fewer trained samples than the same trials (same hyperparameters, "
         "weights and sample order) trained to the end; a tie is not a win")


def one_seed(run, seed):
    """ASHA against no early stopping; only the stopping rule differs."""
    metrics = lambda doc: doc["repetitions"][0]["motif_metrics"]["scalars"]
    asha = metrics(run("at_asha", ["--coupling=tight"], seed))
    full = metrics(run("at_full", ["--coupling=tight", "--set", "search.early_stopping=false"], seed))
    samples = lambda m: m["samples_to_target_count"] if m["reached_target_count"] == 1 else float("inf")
    won = asha["reached_target_count"] == 1 and samples(asha) < samples(full)
    line = (f"seed {seed:2d}: samples to target ASHA {samples(asha):.0f} ({asha['trials_started_count']:.0f} trials, "
            f"{asha['trials_stopped_count']:.0f} stopped) vs to the end {samples(full):.0f} "
            f"({full['trials_started_count']:.0f} trials): {'win' if won else 'LOSS'}")
    return won, line
