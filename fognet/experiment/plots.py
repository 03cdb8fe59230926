"""The figures of a run, drawn with matplotlib on the Agg backend (files, no display).

Each figure reads only the results dict (results.json) and frames.csv, so the report can
be rebuilt from a results directory. `figure_names` says which files a run gets, so the
report and its test agree on them.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

PARAM_LABELS = {"sources.0.count": "cars", "workers.1.count": "Jetson fog nodes",
                "network.bandwidth": "car-fog bandwidth (bytes/s)"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def sweeps(results: dict[str, Any]) -> list[str]:
    """The sweep experiments (the acceleration map's simulated cells are drawn as a map)."""
    from fognet.experiment.region import PREFIX

    return sorted({p["experiment"] for p in results["points"] if p["param"] and not p["experiment"].startswith(PREFIX)})


def figure_names(results: dict[str, Any]) -> list[str]:
    names = ["latency_cdf.png", "speedup.png", "timeline.png"]
    names += [f"sweep_{s}.png" for s in sweeps(results)]
    if results.get("partnner"):
        names.append("partnner.png")
    names += [f"region_{m}.png" for m in sorted({c["model"] for c in results.get("region") or []})]
    if results.get("live"):
        names.append("live_cdf.png")
    return names


def draw_all(results: dict[str, Any], results_dir: Path) -> list[Path]:
    """Every figure of `figure_names` under results_dir/figures; the paths."""
    out = results_dir / "figures"
    out.mkdir(parents=True, exist_ok=True)
    plt = _plt()
    paths = []
    for name in figure_names(results):
        fig = plt.figure(figsize=(9, 4.8))
        if name == "latency_cdf.png":
            _cdf(fig, results["latencies"], "simulated driving scenario, all seeds")
        elif name == "speedup.png":
            _speedup(fig, results)
        elif name == "timeline.png":
            _timeline(fig, results_dir / "frames.csv")
        elif name.startswith("sweep_"):
            _sweep(fig, results, name[len("sweep_"):-4])
        elif name == "partnner.png":
            _partnner(fig, results["partnner"])
        elif name.startswith("region_"):
            _region(fig, [c for c in results["region"] if c["model"] == name[len("region_"):-4]])
        elif name == "live_cdf.png":
            _cdf(fig, {f"{r['model']} {r['mode']}": r["latencies_s"] for r in results["live"]},
                 "live on the emulated cluster")
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        paths.append(out / name)
    return paths


def _cdf(fig, latencies: dict[str, list[float]], where: str) -> None:
    ax = fig.add_subplot()
    for name, values in latencies.items():
        x = np.sort(np.asarray(values) * 1e3)
        if x.size:
            ax.plot(x, np.arange(1, x.size + 1) / x.size, label=name, lw=2 if name.startswith("fognet") else 1)
    ax.set_xscale("log")
    ax.set(xlabel="frame latency (ms)", ylabel="fraction of frames", title=f"Latency CDF per approach ({where})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _speedup(fig, results: dict[str, Any]) -> None:
    per: dict[str, list[float]] = defaultdict(list)
    for p in results["points"]:
        if p["experiment"] == "driving":
            for name, value in p["speedup"].items():
                if value is not None:
                    per[name].append(value)
    ax = fig.add_subplot()
    names = list(per)
    means = [float(np.mean(per[n])) for n in names]
    lo = [m - min(per[n]) for m, n in zip(means, names, strict=True)]
    hi = [max(per[n]) - m for m, n in zip(means, names, strict=True)]
    ax.bar(names, means, yerr=[lo, hi], capsize=4, color="tab:blue")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhspan(2.6, 4.2, color="tab:orange", alpha=0.15, label="DINA's reported 2.6-4.2x")
    ax.set(ylabel="fognet's speed-up (mean latency)", title="fognet over each baseline (bars: mean over seeds, min-max)")
    ax.legend()


def _timeline(fig, frames_csv: Path) -> None:
    """Which peer ran what: fognet's frames at the first seed, over the first two rounds."""
    with frames_csv.open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["approach"] == "fognet"]
    ax = fig.add_subplot()
    if rows:
        seed = rows[0]["seed"]
        rows = [r for r in rows if r["seed"] == seed and int(r["round"]) < 2]
    models = sorted({r["model"] for r in rows})
    colours = {m: f"C{i}" for i, m in enumerate(models)}
    peers = sorted({p for r in rows for p in r["peers"].split(";")})
    y = {p: i for i, p in enumerate(peers)}
    for r in rows:
        start, end = float(r["start_s"]), float(r["end_s"])
        for p in r["peers"].split(";"):
            ax.barh(y[p], end - start, left=start, height=0.6, color=colours[r["model"]], alpha=0.5)
    ax.set_yticks(range(len(peers)), peers, fontsize=6)
    ax.set(xlabel="simulated time (s)", title="Which peers ran each frame (fognet, first seed, first 2 rounds)")
    if models:
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=colours[m], alpha=0.5, label=m) for m in models], fontsize=7,
                  loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _sweep(fig, results: dict[str, Any], experiment: str) -> None:
    points = [p for p in results["points"] if p["experiment"] == experiment]
    param = points[0]["param"]
    values = sorted({p["value"] for p in points})
    names = list(dict.fromkeys(n for p in points for n in p["summaries"]))
    for k, (metric, label) in enumerate((("mean_s", "mean"), ("p95_s", "p95"))):
        ax = fig.add_subplot(1, 2, k + 1)
        for name in names:
            ys = [np.mean([p["summaries"][name][metric] * 1e3 for p in points
                           if p["value"] == v and name in p["summaries"]] or [np.nan]) for v in values]
            ax.plot(values, ys, marker="o", label=name, lw=2 if name == "fognet" else 1)
        if param == "network.bandwidth":
            ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set(xlabel=PARAM_LABELS.get(param, param), ylabel=f"{label} latency (ms)", title=f"{experiment}: {label}")
        ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _partnner(fig, data: dict[str, Any]) -> None:
    top, bottom = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2)
    steps = next(iter(data["variants"].values()))["steps"]
    t = [s["time_s"] for s in steps]
    top.step(t, [s["bandwidth"] / 1e6 for s in steps], where="post", color="C0")
    top.set_ylabel("bandwidth (MB/s)", color="C0")
    load = top.twinx()
    load.step(t, [s["load"] for s in steps], where="post", color="C3")
    load.set_ylabel("cloud load (ref-s)", color="C3")
    top.set(title=f"PArtNNer's setting: {data['model']}, one car + far cloud")
    bottom.plot(t, [s["edge_s"] * 1e3 for s in steps], label="edge-only")
    bottom.plot(t, [s["cloud_s"] * 1e3 for s in steps], label="cloud-only")
    bottom.plot(t, [s["oracle_s"] * 1e3 for s in steps], ":", label="planner, true state")
    for name, v in data["variants"].items():
        bottom.plot(t, [s["fognet_s"] * 1e3 for s in v["steps"]], lw=2, label=f"fognet ({name})")
    bottom.set(xlabel="time (s)", ylabel="latency (ms)")
    bottom.set_yscale("log")
    bottom.legend(fontsize=7)


def _region(fig, cells: list[dict[str, Any]]) -> None:
    """The predicted map, and beside it the simulated one when the cells were simulated."""
    keys = [("speedup", "predicted")]
    if any(c.get("simulated_speedup") is not None for c in cells):
        keys.append(("simulated_speedup", "simulated"))
    for k, (key, label) in enumerate(keys):
        _region_panel(fig, fig.add_subplot(1, len(keys), k + 1), cells, key, label)


def _region_panel(fig, ax, cells: list[dict[str, Any]], key: str, label: str) -> None:
    bws = sorted({c["bandwidth"] for c in cells})
    ratios = sorted({c["ratio"] for c in cells})
    grid = np.full((len(ratios), len(bws)), np.nan)
    for c in cells:
        if c.get(key) is not None:
            grid[ratios.index(c["ratio"]), bws.index(c["bandwidth"])] = c[key]
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis", vmin=min(1.0, np.nanmin(grid)))
    ax.set_xticks(range(len(bws)), [f"{b:.0e}" for b in bws], fontsize=6, rotation=45)
    ax.set_yticks(range(len(ratios)), [f"{r:g}" for r in ratios])
    top = np.nanmax(grid)
    for i in range(len(ratios)):
        for j in range(len(bws)):
            ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=6,
                    color="w" if grid[i, j] < top * 0.8 else "k")
    fig.colorbar(image, ax=ax, label="speed-up over one device")
    ax.set(xlabel="link bandwidth (bytes/s)", ylabel="helper speed / device speed",
           title=f"{cells[0]['model']}, {label} (>1: partitioning pays)")
