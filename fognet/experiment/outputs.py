"""A run's files: results.json (everything the plots and the report read) and CSVs.

    results.json   machine, dataset, scenario, every point's summaries, the seeds' figures
    points.csv     one row per point x approach: the summary fields, by name
    frames.csv     every frame of the driving scenario, every approach and seed
    partnner.csv   every replayed frame of PArtNNer's setting, per variant
    region.csv     the acceleration map's cells
    live.csv       every live frame (when the live part ran)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fognet.errors import ConfigError
from fognet.sim.records import RECORD_FIELDS, record_row, write_json, write_rows


def write(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write every file of a run into `out_dir`; the paths written."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {out_dir}: {exc.strerror or exc}") from exc
    records = results.get("_records", [])
    public = {k: v for k, v in results.items() if not k.startswith("_")}
    paths = [out_dir / "results.json", out_dir / "points.csv", out_dir / "frames.csv"]
    write_json(paths[0], public)
    _points_csv(public, paths[1])
    write_rows(paths[2], ["seed", *RECORD_FIELDS], ([seed, *record_row(r)] for seed, r in records))
    if public.get("partnner"):
        paths.append(out_dir / "partnner.csv")
        _table(paths[-1], [{"variant": n, **s} for n, v in public["partnner"]["variants"].items() for s in v["steps"]])
    if public.get("region"):
        paths.append(out_dir / "region.csv")
        _table(paths[-1], public["region"])
    if public.get("live"):
        paths.append(out_dir / "live.csv")
        _table(paths[-1], [{"model": r["model"], "mode": r["mode"], **f} for r in public["live"] for f in r["frames_detail"]])
    return paths


def load_results(results_dir: Path) -> dict[str, Any]:
    path = results_dir / "results.json"
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}; run `fognet experiment driving --out {results_dir}` first") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc


def _points_csv(results: dict[str, Any], path: Path) -> None:
    fields: list[str] = []
    for p in results["points"]:
        for s in p["summaries"].values():
            fields += [k for k in s if k not in fields and k != "approach"]
    rows = []
    for p in results["points"]:
        for name, s in p["summaries"].items():
            speedup = p["speedup"].get(name)
            rows.append([p["experiment"], p["scenario"], p["param"], p["value"], p["seed"], name,
                         *(s.get(f, "") for f in fields), "" if speedup is None else f"{speedup:.4f}"])
        for name, reason in p["skipped"].items():
            rows.append([p["experiment"], p["scenario"], p["param"], p["value"], p["seed"], name,
                         *([""] * len(fields)), f"skipped: {reason}"])
    write_rows(path, ["experiment", "scenario", "param", "value", "seed", "approach", *fields, "fognet_speedup"], rows)


def _table(path: Path, rows: list[dict[str, Any]]) -> None:
    header = list(rows[0]) if rows else []
    write_rows(path, header, ([r.get(k, "") for k in header] for r in rows))
