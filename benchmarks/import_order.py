"""Does importing torch before minicnn slow minicnn down?

A script that compares the two engines naturally starts with ``import torch``.
torch brings its own OpenMP runtime (libgomp), which reads ``OMP_WAIT_POLICY``
once, when it loads; Numba's OpenMP kernels would run on that same runtime
(the library is shared by name). minicnn asks for sleeping idle threads
(``minicnn.runtime.threads``), but only a runtime loaded after minicnn sees
that request, so in a torch-first process minicnn moves Numba to its TBB pool
where TBB is installed (``NUMBA_THREADING_LAYER=omp`` keeps it on OpenMP, to
measure the shared case). This part measures what the order costs.

It runs the same benchmark in fresh processes that differ only in their first
import, ``import minicnn`` or ``import torch``, alternating the two orders for
``rounds`` rounds (A B A B ...), with the user's own ``OMP_WAIT_POLICY`` (unset,
unless it was set before minicnn was imported). Each process times ResNet-50's
convolution layers (forward + backward, the ``ops`` part) and the LeNet-5 and
ResNet-20 training and inference steps (the ``models`` part), minicnn's numba
backend and PyTorch alternating as usual. A row's result is the median over the
rounds; ``slowdown`` is torch-first time over minicnn-first time.

    minicnn bench --only import-order              # 2 rounds of each order
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

__all__ = ["ORDERS", "child_command", "run_import_order", "combine", "markdown_import_order"]

ORDERS = ("minicnn-first", "torch-first")
OPS_PATTERN = "conv2d ResNet-50"
MODELS = "lenet5,resnet20"


def child_command(order: str, bench_args: list) -> list:
    """The command line of one child: ``python -c`` importing ``order``'s first
    module, then running ``minicnn bench`` with ``bench_args``."""
    if order not in ORDERS:
        raise ValueError(f"import order: expected one of {ORDERS}, got {order!r}")
    first = "torch" if order == "torch-first" else "minicnn"
    script = (f"import {first}\n"
              "import runpy, sys\n"
              "sys.argv = ['minicnn bench'] + sys.argv[1:]\n"
              "runpy.run_module('minicnn.bench', run_name='__main__', alter_sys=True)\n")
    return [sys.executable, "-c", script, *bench_args]


def _child_env() -> dict:
    """This process's environment with OMP_WAIT_POLICY as the user had it."""
    from minicnn.runtime.threads import USER_OMP_WAIT_POLICY
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if USER_OMP_WAIT_POLICY is not None:
        env["OMP_WAIT_POLICY"] = USER_OMP_WAIT_POLICY
    return env


def _rows(doc) -> dict:
    """(row name) -> {'minicnn': s, 'torch': s} from one child's JSON document:
    conv cases as forward + backward, models per mode."""
    rows = {}
    for r in doc["ops"]:
        if r["framework"] == "minicnn" and r["backend"] != "numba":
            continue
        engine = "minicnn" if r["framework"] == "minicnn" else "torch"
        entry = rows.setdefault(f"{r['case']} fwd+bwd", {"minicnn": 0.0, "torch": 0.0})
        entry[engine] += r["median"]
    for r in doc["models"]:
        if r["framework"] == "minicnn" and r["backend"] != "numba":
            continue
        engine = "minicnn" if r["framework"] == "minicnn" else "torch"
        rows.setdefault(f"{r['model']} {r['mode']} step", {})[engine] = r["median"]
    return rows


def combine(runs) -> list:
    """``runs``: (order, rows) pairs, rows as ``_rows`` returns them. One record
    per row: the median time of each engine under each order, minicnn's
    slowdown (torch-first over minicnn-first) and its ratio to torch under each."""
    by_row = {}
    for order, rows in runs:
        for name, times in rows.items():
            for engine, seconds in times.items():
                by_row.setdefault(name, {}).setdefault((order, engine), []).append(seconds)
    records = []
    for name, samples in by_row.items():
        med = {key: statistics.median(v) for key, v in samples.items()}
        if not all((o, e) in med for o in ORDERS for e in ("minicnn", "torch")):
            continue
        records.append({
            "row": name,
            "minicnn_first_s": med["minicnn-first", "minicnn"],
            "torch_first_s": med["torch-first", "minicnn"],
            "slowdown": med["torch-first", "minicnn"] / med["minicnn-first", "minicnn"],
            "ratio_to_torch_minicnn_first":
                med["minicnn-first", "minicnn"] / med["minicnn-first", "torch"],
            "ratio_to_torch_torch_first":
                med["torch-first", "minicnn"] / med["torch-first", "torch"],
            "rounds": len(samples["minicnn-first", "minicnn"]),
        })
    return records


def run_import_order(threads: int, repeat: int = 5, rounds: int = 2, progress=None) -> list:
    """Run the benchmark ``rounds`` times in each import order, alternating, in
    child processes; returns ``combine``'s records."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="minicnn-import-order-") as tmp:
        for r in range(rounds):
            for order in ORDERS:
                if progress:
                    progress(f"import order: {order}, round {r + 1} of {rounds}")
                path = os.path.join(tmp, f"{order}-{r}.json")
                args = ["--only", "ops", "--only", "models", "--ops", OPS_PATTERN,
                        "--models", MODELS, "--backends", "numba", "--threads", str(threads),
                        "--repeat", str(repeat), "--json", path]
                done = subprocess.run(child_command(order, args), env=_child_env(),
                                      stdout=subprocess.DEVNULL)
                if done.returncode != 0:
                    raise RuntimeError(f"import order: the {order} benchmark process failed "
                                       f"with exit status {done.returncode}; run "
                                       f"'minicnn bench --only ops --ops \"{OPS_PATTERN}\"' "
                                       f"alone to see why")
                with open(path, encoding="utf-8") as f:
                    runs.append((order, _rows(json.load(f))))
    return combine(runs)


def markdown_import_order(records) -> str:
    lines = ["| row | minicnn first ms | torch first ms | slowdown | × torch (minicnn first) "
             "| × torch (torch first) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in records:
        lines.append(f"| {r['row']} | {r['minicnn_first_s'] * 1e3:.3g} | "
                     f"{r['torch_first_s'] * 1e3:.3g} | {r['slowdown']:.2f} | "
                     f"{r['ratio_to_torch_minicnn_first']:.2f} | "
                     f"{r['ratio_to_torch_torch_first']:.2f} |")
    return "\n".join(lines)
