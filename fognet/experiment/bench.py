"""`fognet bench`: the latency suite users run on their own cluster, and its comparison.

Per model of a suite: `fognet infer` with the whole model on the source (local) and with
fognet's placement, each with one frame in flight; p50/p95/p99 and throughput of each,
the machine and the emulation stated. A result file is JSON; `compare` reads two and
lists every figure that got worse by more than a threshold.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fognet.errors import ConfigError
from fognet.experiment import machine
from fognet.experiment.live import JoinKeys, run_live

SUITES: dict[str, tuple[tuple[str, ...], int]] = {  # name -> (models, frames per run)
    "default": (("pilotnet", "resnet18", "yolov3-tiny"), 20),
    "quick": (("pilotnet",), 5),
    "dina": (("alexnet", "resnet34", "nin", "vgg16:slim"), 10),
}
MODES = ("local", "fognet")
WORSE_IF_HIGHER = ("p50_ms", "p95_ms", "p99_ms")
WORSE_IF_LOWER = ("throughput_fps",)


def suite(name: str) -> tuple[tuple[str, ...], int]:
    if name not in SUITES:
        raise ConfigError(f"unknown bench suite {name!r}; known: {', '.join(SUITES)}")
    return SUITES[name]


def run_suite(name: str, cluster: Path | None, via: Sequence[str] = (), frames: int | None = None,
              tick: Callable[[str], None] | None = None, join: JoinKeys | None = None) -> dict[str, Any]:
    """Every model of the suite, local and fognet; `join`: the keys to join a closed cluster with `via`."""
    models, default_frames = suite(name)
    n = frames or default_frames
    done = tick or (lambda label: None)
    out: dict[str, Any] = {"suite": name, "frames": n, "machine": machine.describe(),
                           "cluster": str(cluster) if cluster else None, "via": list(via), "closed": join is not None,
                           "emulation": "", "models": {}}
    for model in models:
        entry: dict[str, Any] = {}
        for mode in MODES:
            run = run_live(model, mode, n, cluster=cluster, via=via, join=join)
            entry[mode] = run.stats()
            out["emulation"] = out["emulation"] or run.emulation
            done(f"{model} {mode}")
        local, fog = entry["local"]["p50_ms"], entry["fognet"]["p50_ms"]
        entry["speedup_p50"] = local / fog if local and fog else None
        out["models"][model] = entry
    if not out["emulation"]:
        out["emulation"] = "joined a running cluster: its peers' emulation is theirs (stated in their logs)"
    return out


def load_bench(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read bench file {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ConfigError(f"{path}: not a `fognet bench --out` file (no `models` table)")
    return data


@dataclass(frozen=True)
class Change:
    model: str
    mode: str
    metric: str
    before: float
    after: float

    @property
    def relative(self) -> float:
        return (self.after - self.before) / self.before if self.before else 0.0

    @property
    def worse(self) -> bool:
        return self.relative > 0 if self.metric in WORSE_IF_HIGHER else self.relative < 0


def compare(before: dict[str, Any], after: dict[str, Any], threshold: float = 0.1) -> list[Change]:
    """Every figure of a model and mode present in both files that moved by more than
    `threshold` (relative), worse or better."""
    changes = []
    for model in sorted(set(before["models"]) & set(after["models"])):
        for mode in MODES:
            a, b = before["models"][model].get(mode) or {}, after["models"][model].get(mode) or {}
            for metric in (*WORSE_IF_HIGHER, *WORSE_IF_LOWER):
                x, y = a.get(metric), b.get(metric)
                if isinstance(x, (int, float)) and isinstance(y, (int, float)) and x > 0:
                    change = Change(model, mode, metric, float(x), float(y))
                    if abs(change.relative) > threshold:
                        changes.append(change)
    return changes


def regressions(changes: Sequence[Change]) -> list[Change]:
    return [c for c in changes if c.worse]
