#!/usr/bin/python3
"""Proves the schema check can fail: each mutation of a good result must be
rejected by validate_result.py.

Usage: negative_controls.py VALIDATOR SCHEMA GOOD_RESULT.json [...]
"""
import copy
import json
import os
import subprocess
import sys
import tempfile


def mutations(doc):
    def m(name, fn):
        d = copy.deepcopy(doc)
        fn(d)
        return name, d

    lat = next(iter(doc["summary"]["latency"]), None)
    yield m("missing schema_version", lambda d: d.pop("schema_version"))
    yield m("other schema major", lambda d: d.update(schema_version="2.0.0"))
    yield m("unknown coupling", lambda d: d["run"].update(coupling="telepathic"))
    yield m("energy 0 J while unavailable",
            lambda d: d["repetitions"][0]["energy"].update(method="unavailable", energy_j=0))
    yield m("invalid without reasons", lambda d: d.update(valid=False, invalid_reasons=[]))
    yield m("numeric key without unit", lambda d: d["roofline"].update(bandwidth=1.0))
    if lat:
        yield m("p50 above max", lambda d: d["summary"]["latency"][lat].update(p50_ns=d["summary"]["latency"][lat]["max_ns"] * 2))
        yield m("histogram count mismatch", lambda d: d["summary"]["latency"][lat].update(count=d["summary"]["latency"][lat]["count"] + 1))


def main():
    validator, schema, *files = sys.argv[1:]
    failures = 0
    checked = 0
    for path in files:
        with open(path) as f:
            doc = json.load(f)
        for name, bad in mutations(doc):
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as t:
                json.dump(bad, t)
            r = subprocess.run([sys.executable, validator, schema, t.name], capture_output=True, text=True)
            os.unlink(t.name)
            checked += 1
            if r.returncode == 0:
                print(f"NOT REJECTED: {name} ({path})")
                failures += 1
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as t:
            t.write(json.dumps(doc)[: len(json.dumps(doc)) // 2])  # truncated file
        r = subprocess.run([sys.executable, validator, schema, t.name], capture_output=True, text=True)
        os.unlink(t.name)
        checked += 1
        if r.returncode == 0:
            print(f"NOT REJECTED: truncated file ({path})")
            failures += 1
    print(f"{checked - failures} passed, {failures} failed")
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
