"""dynamic_orchestration: its science check and bad-input cases, run by tests/.

one_seed(run, seed): run(name, args, seed) runs motifbench at size tiny and
returns the result document; returns (won, line to print). The check passes
when the AI wins on at least WINS_NEEDED of SEEDS (tests/science).
BAD_INPUT: (label, args, text the error message must contain).
"""
BAD_INPUT = [
    ("ensemble of 0", ["--set", "ensemble.members=0"], "expected an integer in [1,"),
    ("churn not below the ensemble", ["--set", "ensemble.members=4", "--set", "policy.churn=4"],
     "policy.churn must be in [0, ensemble.members - 1]"),
    ("members neither array nor processes", ["--set", "ensemble.members_as=threads"], "array, processes"),
    ("ensemble beyond memory", ["--set", "ensemble.members=1048576", "--set", "ensemble.particles=1048576"],
     "GiB per rank"),
]

# tests/determinism: the share of time spent simulating depends on where the AI runs.
MODE_DEPENDENT_KEYS = ("ensemble_utilization_fraction", "ai_hidden_fraction")
# Overlapped steering decides one round late, the same way in every mode.
MODE_VARIANTS = [("overlapped steering", ["--set", "steer.overlap=true"])]
# Members as processes draw the same random numbers as the in-process ensemble.
EQUIVALENT_RUNS = [("members as processes", ["--set", "ensemble.members_as=processes"], "default"),
                   ("members as processes, overlapped",
                    ["--set", "ensemble.members_as=processes", "--set", "steer.overlap=true"], "overlapped steering")]

SEEDS = range(1, 11)  # not chosen to pass: the first ten
WINS_NEEDED = 8
CLAIM = "steering by novelty covers more of the landscape than no steering, for the same member-steps"


def one_seed(run, seed):
    """Steered (spawn from novel states, terminate the least productive) against unsteered."""
    metrics = lambda doc: doc["repetitions"][0]["motif_metrics"]["scalars"]
    steered = metrics(run("do_steered", ["--coupling=tight"], seed))
    plain = metrics(run("do_unsteered", ["--coupling=none"], seed))
    won = steered["member_steps_count"] == plain["member_steps_count"] and \
        steered["coverage_fraction"] > plain["coverage_fraction"] and steered["spawns_count"] > 0
    line = (f"seed {seed:2d}: coverage steered {steered['coverage_fraction']:.4f} (wells "
            f"{steered['wells_visited_count']:.0f}, spawns {steered['spawns_count']:.0f}) vs unsteered "
            f"{plain['coverage_fraction']:.4f} (wells {plain['wells_visited_count']:.0f}) at "
            f"{steered['member_steps_count']:.0f} member-steps: {'win' if won else 'LOSS'}")
    return won, line
