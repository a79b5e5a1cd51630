"""What a run trains on: the one line every run prints, and the record in metrics.json.

Device-agnostic on purpose: TensorFlow places work on a GPU when it sees one
(`pip install "nnkeras[gpu]"`, docs/gpu.md); this module only says which, so
a user can tell at a glance whether the GPU was used.
"""

from __future__ import annotations

import os
import platform

import tensorflow as tf


def describe(strategy=None) -> dict:
    """{"kind": "GPU"|"CPU", "devices": [names], "replicas": n, ...} for metrics.json."""
    gpus = tf.config.list_physical_devices("GPU")
    info = {"kind": "GPU" if gpus else "CPU", "replicas": strategy.num_replicas_in_sync if strategy else 1}
    if gpus:
        info["devices"] = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
                           for gpu in gpus]
    else:
        info["devices"] = [cpu_name()]
        info["threads"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return info


def line(info: dict, distribution: str = "none") -> str:
    """`nnkeras: training on CPU (AMD EPYC, 2 threads)`, `... on 2 GPUs (...), 2 replicas (mirrored)`."""
    if info["kind"] == "GPU":
        count = len(info["devices"])
        where = f"{count} GPU{'s' if count > 1 else ''} ({', '.join(info['devices'])})"
    else:
        where = f"CPU ({info['devices'][0]}, {info['threads']} thread{'s' if info['threads'] != 1 else ''})"
    count = info["replicas"]
    replicas = f", {count} replica{'s' if count != 1 else ''} ({distribution})" if distribution != "none" else ""
    return f"nnkeras: training on {where}{replicas}"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for row in handle:
                if row.startswith("model name"):
                    return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
