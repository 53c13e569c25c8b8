"""inverse_design: its science check and bad-input cases, run by tests/.

one_seed(run, seed): run(name, args, seed) runs motifbench at size tiny and
returns the result document; returns (won, line to print). The check passes
when the AI wins on at least WINS_NEEDED of SEEDS (tests/science).
BAD_INPUT: (label, args, text the error message must contain).
"""
BAD_INPUT = [
    ("initial design over budget", ["--set", "design.initial=500"], "design.initial must be in [1, design.budget - 1]"),
    ("unknown strategy", ["--set", "design.strategy=guess"], "one of surrogate, evolution, random"),
]

SEEDS = range(1, 11)  # not chosen to pass: the first ten
WINS_NEEDED = 8
CLAIM = ("the surrogate recovers the hidden parameters (misfit and parameter error both within tolerance) with fewer "
         "forward simulations than a (1+lambda) evolution strategy and than random search of the same budget")


def one_seed(run, seed):
    """Surrogate search against the evolution strategy and random search."""
    metrics = lambda doc: doc["repetitions"][0]["motif_metrics"]["scalars"]
    m = {tag: metrics(run(f"id_{tag}", ["--coupling=tight", "--set", f"design.strategy={tag}"], seed))
         for tag in ("surrogate", "evolution", "random")}
    # An unrecovered search is charged its whole budget.
    cost = {tag: x["forward_simulations_count"] if x["parameters_recovered_count"] == 1 else
            x["budget_simulations_count"] + 1 for tag, x in m.items()}
    won = m["surrogate"]["parameters_recovered_count"] == 1 and \
        cost["surrogate"] < cost["evolution"] and cost["surrogate"] < cost["random"]
    line = f"seed {seed:2d}: " + "; ".join(
        f"{tag} {'recovered' if x['parameters_recovered_count'] == 1 else 'not recovered'} after "
        f"{x['forward_simulations_count']:.0f} sims (misfit {x['best_misfit_fraction']:.3f}, parameter error "
        f"{x['parameter_error_fraction']:.3f})" for tag, x in m.items()) + f": {'win' if won else 'LOSS'}"
    return won, line
