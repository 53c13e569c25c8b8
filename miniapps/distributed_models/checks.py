"""distributed_models: its science check and bad-input cases, run by tests/.

science(run): run(name, args) runs motifbench at size tiny with a fixed seed
and returns the result document. Returns (ok, lines to print).
BAD_INPUT: (label, args, text the error message must contain).
"""
BAD_INPUT = [
    ("link bandwidth 0", ["--set", "link.bandwidth_bytes_per_s=0"], "link.bandwidth_bytes_per_s must be > 0"),
    ("frame size not a multiple of 8", ["--set", "frame.size=30"], "frame.size must be a multiple of 8"),
    ("frames beyond memory", ["--set", "edge.count=4096", "--set", "frame.size=4096"], "GiB per rank"),
]


def science(run):
    """Filtering at the edge sends fewer bytes and gets insight sooner (p99)
    than forwarding every frame, and recalls more interesting frames than a
    random filter forwarding the same share of frames (the fair control)."""
    docs = {"edge filter": run("dm_filter", ["--coupling=tight"]),
            "forward all": run("dm_all", ["--coupling=tight", "--set", "edge.filter=false"])}
    model = docs["edge filter"]["repetitions"][0]["motif_metrics"]["scalars"]
    share = model["frames_forwarded_count"] / model["frames_produced_count"]
    docs["random filter"] = run("dm_random", ["--coupling=tight", "--set", "edge.filter=false", "--set",
                                              "edge.baseline=random", "--set", f"edge.random_fraction={share:.6f}"])
    lines, m, p99 = [], {}, {}
    for tag, doc in docs.items():
        m[tag] = doc["repetitions"][0]["motif_metrics"]["scalars"]
        p99[tag] = doc["summary"]["latency"]["frame_to_insight"]["p99_ns"]
        lines.append(f"{tag:11s}: uplink {m[tag]['uplink_bytes']:.0f} B, frame-to-insight p99 {p99[tag] / 1e6:.1f} ms, "
                     f"dropped {m[tag]['frames_dropped_count']:.0f}, recall of interesting frames "
                     f"{m[tag]['interesting_recall_fraction']:.3f}")
    bytes_ratio = m["random filter"]["uplink_bytes"] / m["edge filter"]["uplink_bytes"]
    lines.append(f"random filter at the model's share {share:.3f}: {bytes_ratio:.2f}x the model's uplink bytes")
    ok = m["edge filter"]["uplink_bytes"] < m["forward all"]["uplink_bytes"] and p99["edge filter"] < p99["forward all"] \
        and 0.75 < bytes_ratio < 1.25 \
        and m["edge filter"]["interesting_recall_fraction"] > m["random filter"]["interesting_recall_fraction"]
    return ok, lines
