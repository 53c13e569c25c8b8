"""dynamic_orchestration: its science check and bad-input cases, run by tests/.

science(run): run(name, args) runs motifbench at size tiny with a fixed seed
and returns the result document. Returns (ok, lines to print).
BAD_INPUT: (label, args, text the error message must contain).
"""
BAD_INPUT = [
    ("ensemble of 0", ["--set", "ensemble.members=0"], "expected an integer in [1,"),
    ("churn not below the ensemble", ["--set", "ensemble.members=4", "--set", "policy.churn=4"],
     "policy.churn must be in [0, ensemble.members - 1]"),
    ("ensemble beyond memory", ["--set", "ensemble.members=1048576", "--set", "ensemble.particles=1048576"],
     "GiB per rank"),
]


def science(run):
    """Steering by novelty covers more of the landscape than no steering, for
    the same member-steps."""
    metrics = lambda doc: doc["repetitions"][0]["motif_metrics"]["scalars"]
    steered = metrics(run("do_steered", ["--coupling=tight"]))
    plain = metrics(run("do_unsteered", ["--coupling=none"]))
    lines = [f"steered:   coverage {steered['coverage_fraction']:.4f}, wells {steered['wells_visited_count']:.0f}, "
             f"member-steps {steered['member_steps_count']:.0f}, spawns {steered['spawns_count']:.0f}",
             f"unsteered: coverage {plain['coverage_fraction']:.4f}, wells {plain['wells_visited_count']:.0f}, "
             f"member-steps {plain['member_steps_count']:.0f}"]
    ok = steered["member_steps_count"] == plain["member_steps_count"] and \
        steered["coverage_fraction"] > plain["coverage_fraction"] and steered["spawns_count"] > 0
    return ok, lines
