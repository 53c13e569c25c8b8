#!/usr/bin/python3
"""Derives the compare/validate fixtures from tests/tools/fixtures/base.json, a
real `--size=tiny --repetitions=6` result. Re-run after a schema change:
    build/default/motifbench --motif=digital_replica --size=tiny --repetitions=6 --out=tests/tools/fixtures/base.json
    tests/tools/make_fixtures.py
The derived files are test inputs with scaled figures, not measurements.
"""
import copy
import json
import os
import random

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
LAT_KEYS = ("min_ns", "mean_ns", "stddev_ns", "p50_ns", "p90_ns", "p95_ns", "p99_ns", "p999_ns", "max_ns")


def scale_time(doc, factor, rng=None):
    """Every duration x factor (throughput / factor); with rng, per-repetition noise instead."""
    for rep in doc["repetitions"]:
        f = factor if rng is None else rng.uniform(0.9, 1.1)
        rep["iterations_per_s"] /= f
        for p in rep["phases"].values():
            p["total_s"] *= f
        for lat in rep["latency"].values():
            for k in ("mean_ns", "p50_ns", "p90_ns", "p99_ns", "max_ns"):
                lat[k] *= f
        if rep["energy"]["energy_j"] is not None:
            rep["energy"]["energy_j"] *= f
    if rng is None:
        for lat in doc["summary"]["latency"].values():
            for k in LAT_KEYS:
                lat[k] *= factor
        for k in list(doc["summary"]["iterations_per_s"]):
            if k.endswith("_per_s"):
                doc["summary"]["iterations_per_s"][k] /= factor
        for p in doc["summary"]["phases"].values():
            for k in list(p["total_s"]):
                if k.endswith("_s"):
                    p["total_s"][k] *= factor


def write(name, doc):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def main():
    with open(os.path.join(HERE, "base.json")) as f:
        base = json.load(f)
    write("identical.json", copy.deepcopy(base))
    slower = copy.deepcopy(base)
    scale_time(slower, 2.0)
    write("slower.json", slower)
    faster = copy.deepcopy(base)
    scale_time(faster, 0.5)
    write("faster.json", faster)
    noisy = copy.deepcopy(base)
    scale_time(noisy, 1.0, random.Random(7))
    write("noisy_same.json", noisy)
    invalid = copy.deepcopy(base)
    del invalid["summary"]["measured_s"]
    invalid["run"]["coupling"] = "telepathic"
    write("schema_invalid.json", invalid)
    text = json.dumps(base, indent=1)
    with open(os.path.join(HERE, "truncated.json"), "w") as f:
        f.write(text[: len(text) // 3])
    other = copy.deepcopy(base)
    other["schema_version"] = "2.0.0"
    write("other_major.json", other)


if __name__ == "__main__":
    main()
