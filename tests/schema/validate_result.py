#!/usr/bin/python3
"""Validates motifbench result files against results-schema/ plus semantic rules.

Usage: validate_result.py SCHEMA RESULT.json [RESULT.json ...]
Exit 0 when every file is valid; prints one line per problem otherwise.
"""
import json
import re
import sys

import jsonschema

UNIT = re.compile(r"(_s|_ns|_us|_ms|_bytes|_j|_w|_per_s|_count|_fraction|_ratio|_index|_flops|_hz)$")
# Numeric keys that are identifiers or counts by name rather than by suffix.
UNITLESS_OK = {"count", "index", "seed", "base_seed", "bytes", "flops"}


def unit_problems(node, path):
    if isinstance(node, dict):
        for key, value in node.items():
            p = f"{path}.{key}"
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                # config maps hold text; the histogram holds raw counts.
                if not UNIT.search(key) and key not in UNITLESS_OK:
                    yield f"{p}: numeric key without a unit suffix"
            yield from unit_problems(value, p)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, (dict, list)):
                yield from unit_problems(value, f"{path}[{i}]")


def semantic_problems(doc):
    for name, lat in doc.get("summary", {}).get("latency", {}).items():
        order = ["min_ns", "p50_ns", "p90_ns", "p95_ns", "p99_ns", "p999_ns", "max_ns"]
        values = [lat[k] for k in order]
        if values != sorted(values):
            yield f"$.summary.latency.{name}: percentiles are not ordered min <= p50 <= ... <= max"
        if not lat["min_ns"] <= lat["mean_ns"] <= lat["max_ns"]:
            yield f"$.summary.latency.{name}: mean outside [min, max]"
        total = sum(count for _, count in lat["histogram"]["buckets"])
        if total != lat["count"]:
            yield f"$.summary.latency.{name}.histogram: {total} samples, count says {lat['count']}"
    if doc.get("valid") is False and not doc.get("invalid_reasons"):
        yield "$.invalid_reasons: an invalid result must say why"
    if doc.get("valid") is True and doc.get("invalid_reasons"):
        yield "$.valid: true but invalid_reasons is not empty"
    yield from unit_problems(doc, "$")


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    validator = jsonschema.Draft202012Validator(schema)
    bad = 0
    for path in sys.argv[2:]:
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            print(f"{path}: cannot read JSON: {e}")
            bad += 1
            continue
        problems = [f"$.{'.'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
        problems += list(semantic_problems(doc))
        for p in problems:
            print(f"{path}: {p}")
        if problems:
            bad += 1
        else:
            print(f"{path}: valid (schema {doc['schema_version']})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
