"""What an experiment ran on, stated in every result file and report.

Latencies measured here mean little without the machine: the same cluster emulated on a
2-core laptop and on a 32-core server gives different figures.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any


def describe() -> dict[str, Any]:
    """Platform, processor, cores and the versions that shape the timings."""
    import numpy
    import onnxruntime

    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "onnxruntime": onnxruntime.__version__,
        "numpy": numpy.__version__,
    }


def one_line(info: dict[str, Any]) -> str:
    """`Linux-...-x86_64, 2 cores, Python 3.11.2, onnxruntime 1.20.1`."""
    return (f"{info.get('platform', '?')}, {info.get('cores', '?')} cores, "
            f"Python {info.get('python', '?')}, onnxruntime {info.get('onnxruntime', '?')}")
