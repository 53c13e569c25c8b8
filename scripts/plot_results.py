#!/usr/bin/python3
"""Plots motifbench result files (PNG, with Debian's python3-matplotlib).

Usage:
  plot_results.py RESULTS... [--out-dir DIR]            one set: a sweep folder or result files
  plot_results.py --compare BASE NEW [--out-dir DIR]    two sets side by side (files or folders)

Writes, per motif found:
  <motif>_latency_cdf.png     latency CDF of each channel, one line per coupling mode
                              (from the mergeable log-bucket histograms)
  <motif>_phases.png          phase breakdown: seconds per repetition, stacked, per mode
  <motif>_throughput.png      steps/s per mode (mean, with min-max whiskers over repetitions)
  <motif>_compare.png         (--compare) steps/s and p50/p99 latency, BASE vs NEW, per mode
"""
import argparse
import glob
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MODE_ORDER = ["tight", "semi-tight", "loose", "none"]


def load(paths):
    docs = []
    for p in paths:
        files = sorted(glob.glob(os.path.join(p, "**", "*.json"), recursive=True)) if os.path.isdir(p) else [p]
        for f in files:
            if os.path.basename(f) == "index.json":
                continue
            try:
                with open(f) as fh:
                    d = json.load(fh)
            except (OSError, ValueError) as e:
                print(f"skipping {f}: {e}", file=sys.stderr)
                continue
            if "schema_version" not in d or "run" not in d:
                print(f"skipping {f}: not a motifbench result", file=sys.stderr)
                continue
            if d["summary"]["measured_s"]["samples_count"] == 0:
                print(f"skipping {f}: no repetition was measured ({'; '.join(d['invalid_reasons'])})", file=sys.stderr)
                continue
            d["_file"] = f
            docs.append(d)
    return docs


def by_motif(docs):
    out = {}
    for d in docs:
        out.setdefault(d["run"]["motif"], []).append(d)
    for v in out.values():
        v.sort(key=lambda d: (MODE_ORDER.index(d["run"]["coupling"]) if d["run"]["coupling"] in MODE_ORDER else 9,
                              d["run"]["size"]))
    return out


def label(d):
    return f"{d['run']['coupling']} ({d['run']['size']})"


def cdf_points(lat):
    h = lat["histogram"]
    base, per = h["base_ns"], h["buckets_per_decade_count"]
    total = sum(c for _, c in h["buckets"])
    xs, ys, seen = [], [], 0
    for i, c in sorted(h["buckets"]):
        seen += c
        xs.append(base * 10 ** ((i + 1) / per) / 1e3)  # bucket upper edge, in us
        ys.append(seen / total)
    return xs, ys


def plot_latency_cdf(motif, docs, out_dir):
    channels = sorted({ch for d in docs for ch in d["summary"]["latency"]})
    if not channels:
        return None
    cols = min(3, len(channels))
    rows = (len(channels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, ch in zip(axes.flat, channels):
        for d in docs:
            lat = d["summary"]["latency"].get(ch)
            if lat:
                xs, ys = cdf_points(lat)
                ax.step(xs, ys, where="post", label=f"{label(d)} p50={lat['p50_ns'] / 1e3:.1f}us")
        ax.set_xscale("log")
        ax.set_title(ch)
        ax.set_xlabel("latency (us, log)")
        ax.set_ylabel("fraction of samples")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(channels):]:
        ax.axis("off")
    fig.suptitle(f"{motif}: latency CDF per coupling mode")
    fig.tight_layout()
    path = os.path.join(out_dir, f"{motif}_latency_cdf.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_phases(motif, docs, out_dir):
    phases = []
    for d in docs:
        for p in d["summary"]["phases"]:
            if p not in phases:
                phases.append(p)
    fig, ax = plt.subplots(figsize=(1.6 * len(docs) + 3, 4.5))
    bottoms = [0.0] * len(docs)
    names = [label(d) for d in docs]
    for p in phases:
        vals = [d["summary"]["phases"].get(p, {}).get("total_s", {}).get("mean_s", 0.0) for d in docs]
        ax.bar(names, vals, bottom=bottoms, label=p)
        bottoms = [b + v for b, v in zip(bottoms, vals)]
    measured = [d["summary"]["measured_s"]["mean_s"] for d in docs]
    ax.plot(names, measured, "k_", markersize=30, label="measured time")
    ax.set_ylabel("seconds per repetition")
    ax.set_title(f"{motif}: phase breakdown")
    ax.legend(fontsize=8, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    path = os.path.join(out_dir, f"{motif}_phases.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def steps(d):
    s = d["summary"]["iterations_per_s"]
    return s["mean_per_s"], s["min_per_s"], s["max_per_s"]


def plot_throughput(motif, docs, out_dir):
    fig, ax = plt.subplots(figsize=(1.4 * len(docs) + 3, 4))
    names = [label(d) for d in docs]
    means = [steps(d)[0] for d in docs]
    err = [[m - steps(d)[1] for m, d in zip(means, docs)], [steps(d)[2] - m for m, d in zip(means, docs)]]
    colors = ["tab:green" if d["valid"] else "tab:red" for d in docs]
    ax.bar(names, means, yerr=err, capsize=4, color=colors)
    for i, m in enumerate(means):
        ax.text(i, m, f"{m:.1f}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("steps/s (mean; whiskers: min-max)")
    ax.set_title(f"{motif}: throughput per coupling mode (red: invalid run)")
    fig.tight_layout()
    path = os.path.join(out_dir, f"{motif}_throughput.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_compare(motif, base, new, out_dir):
    # The same matching as `motifbench compare`: motif, coupling, size and the
    # hash of the effective config. Runs it would call unmatched are not paired.
    key = lambda d: (d["run"]["coupling"], d["run"]["size"], d["run"]["config_hash"])  # noqa: E731
    b = {key(d): d for d in base}
    n = {key(d): d for d in new}
    keys = [k for k in b if k in n]
    for side, mine, other in (("BASE", b, n), ("NEW", n, b)):
        for k in mine:
            if k not in other:
                print(f"warning: {motif}/{k[0]}/{k[1]} [{k[2]}] in {side} has no match (same config) on the other "
                      "side; not plotted", file=sys.stderr)
    if not keys:
        return None
    channel = None
    for cand in ("infer_step", "rpc_roundtrip", "infer_call"):
        if all(cand in b[k]["summary"]["latency"] and cand in n[k]["summary"]["latency"] for k in keys):
            channel = cand
            break
    fig, axes = plt.subplots(1, 2 if channel else 1, figsize=(12 if channel else 6, 4.5), squeeze=False)
    xs = range(len(keys))
    names = [f"{c} ({s})" for c, s, _ in keys]
    ax = axes[0][0]
    ax.bar([x - 0.2 for x in xs], [steps(b[k])[0] for k in keys], 0.4, label="BASE")
    ax.bar([x + 0.2 for x in xs], [steps(n[k])[0] for k in keys], 0.4, label="NEW")
    ax.set_xticks(list(xs), names)
    ax.set_ylabel("steps/s")
    ax.set_title("throughput")
    ax.legend()
    if channel:
        ax = axes[0][1]
        for off, side, tag in ((-0.2, b, "BASE"), (0.2, n, "NEW")):
            p50 = [side[k]["summary"]["latency"][channel]["p50_ns"] / 1e3 for k in keys]
            p99 = [side[k]["summary"]["latency"][channel]["p99_ns"] / 1e3 for k in keys]
            ax.bar([x + off for x in xs], p50, 0.4, label=f"{tag} p50")
            ax.scatter([x + off for x in xs], p99, marker="v", zorder=3, label=f"{tag} p99")
        ax.set_xticks(list(xs), names)
        ax.set_yscale("log")
        ax.set_ylabel("us (log)")
        ax.set_title(f"{channel} latency")
        ax.legend(fontsize=8)
    fig.suptitle(f"{motif}: BASE vs NEW")
    fig.tight_layout()
    path = os.path.join(out_dir, f"{motif}_compare.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="*")
    ap.add_argument("--compare", nargs=2, metavar=("BASE", "NEW"))
    ap.add_argument("--out-dir", default="plots")
    a = ap.parse_args()
    if not a.results and not a.compare:
        ap.error("give result files or folders, or --compare BASE NEW")
    os.makedirs(a.out_dir, exist_ok=True)
    written = []
    if a.compare:
        base, new = by_motif(load([a.compare[0]])), by_motif(load([a.compare[1]]))
        for motif in sorted(set(base) & set(new)):
            written.append(plot_compare(motif, base[motif], new[motif], a.out_dir))
    if a.results:
        docs = by_motif(load(a.results))
        if not docs:
            print("no result files found", file=sys.stderr)
            return 1
        for motif, ds in sorted(docs.items()):
            written += [plot_latency_cdf(motif, ds, a.out_dir), plot_phases(motif, ds, a.out_dir),
                        plot_throughput(motif, ds, a.out_dir)]
    written = [w for w in written if w]
    for w in written:
        print(f"wrote {w}")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
