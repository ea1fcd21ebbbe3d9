"""Data-parallel cost, measured: allreduce time against message size, step times with
1 and 2 ranks, and the alpha-beta ring-allreduce projection to more nodes.

    python -m minicnn.bench.distributed --out benchmarks/results     # launches mpiexec
    minicnn bench --only distributed --out benchmarks/results        # the same

The driver starts ``mpiexec -n 2`` (and ``-n 1``) jobs of this file in worker
mode, one BLAS/Numba thread per rank unless a case asks for 2, and collects
their JSON lines.

The model (Hockney's alpha-beta, with the ring allreduce of Patarasuk & Yuan,
as NCCL and MPI use for large messages):

    T_msg(n)          = alpha + beta * n                 n bytes, point to point
    T_allreduce(p, n) = 2 (p - 1) alpha + 2 (p - 1) / p * beta * n

(a reduce-scatter then an all-gather, each p - 1 steps of n/p bytes). alpha and
beta come from a least-squares fit of the measured 2-rank allreduce,
T(2, n) = 2 alpha + beta n. The projection of one training step on p nodes is
the 1-rank compute time plus T_allreduce(p, gradient bytes), with the
per-rank batch fixed (weak scaling), assuming: every node computes as fast as
this one, the network between nodes has the measured alpha and beta (here
they are shared-memory numbers of one machine, so a real network is slower),
no overlap of communication with the backward pass (minicnn averages after
backward), and no contention.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy

__all__ = ["main", "ring_allreduce_time", "fit_alpha_beta", "project"]

SIZES = [2 ** k for k in range(4, 25, 2)]          # 16 B .. 16 MiB
MODELS = {"lenet5": ((1, 32, 32), 32), "resnet20": ((3, 32, 32), 16)}  # input, batch/rank


def ring_allreduce_time(p: int, nbytes: float, alpha: float, beta: float) -> float:
    """Seconds for a ring allreduce of ``nbytes`` over ``p`` ranks (0 for one rank)."""
    if p <= 1:
        return 0.0
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * beta * nbytes


def fit_alpha_beta(sizes, seconds) -> tuple:
    """(alpha, beta) from 2-rank allreduce times: T = 2 alpha + beta n.

    Least squares on the *relative* error (each row divided by its time): the
    sizes span six decades, and a plain fit would let the largest messages
    decide alone, leaving alpha (the small-message cost) at noise level.
    """
    t = numpy.asarray(seconds, float)
    A = numpy.stack([numpy.full(len(sizes), 2.0), numpy.asarray(sizes, float)], axis=1)
    (alpha, beta), *_ = numpy.linalg.lstsq(A / t[:, None], numpy.ones_like(t), rcond=None)
    return float(max(alpha, 0.0)), float(beta)


def project(compute_s: float, grad_bytes: int, batch: int, alpha: float, beta: float,
            nodes=(1, 2, 4, 8, 16, 32)) -> list:
    """Images/s and efficiency on p nodes: p * batch / (compute + T_allreduce(p))."""
    rows = []
    for p in nodes:
        step = compute_s + ring_allreduce_time(p, grad_bytes, alpha, beta)
        rows.append({"nodes": p, "step_s": step, "images_per_s": p * batch / step,
                     "efficiency": compute_s / step})
    return rows


# ----------------------------------------------------------------- workers
def _median_time(fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return float(numpy.median(samples))


def _worker_allreduce(repeat):
    import minicnn.distributed as dist
    dist.init()
    for n in SIZES:
        a = numpy.ones(n // 4, dtype=numpy.float32)
        dist.barrier()
        t = _median_time(lambda: dist.all_reduce(a), 3, repeat)
        # every rank's median, then the slowest: a collective ends when the last rank does
        worst = dist.all_reduce(numpy.array([t]), op="max")[0]
        if dist.rank() == 0:
            print(json.dumps({"bytes": n, "seconds": float(worst)}), flush=True)


def _worker_step(model_name, batch, repeat):
    import minicnn
    import minicnn.distributed as dist
    from minicnn import optim
    from minicnn.autograd import Tensor
    from minicnn.functional import cross_entropy
    from minicnn.zoo import get_model
    dist.init()
    shape, _ = MODELS[model_name]
    minicnn.manual_seed(0)
    model = dist.DistributedDataParallel(get_model(model_name, in_channels=shape[0]))
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = numpy.random.default_rng(dist.rank())
    x = Tensor(rng.standard_normal((batch, *shape)).astype(numpy.float32))
    y = Tensor(rng.integers(0, 10, batch))
    timings = {"sync": []}

    def step():
        loss = cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        t = time.perf_counter()
        model.sync_gradients()
        timings["sync"].append(time.perf_counter() - t)
        optimizer.step()

    t = _median_time(step, 2, repeat)
    worst = dist.all_reduce(numpy.array([t]), op="max")[0]
    grad_bytes = sum(p.data.nbytes for p in model.parameters())
    if dist.rank() == 0:
        print(json.dumps({"model": model_name, "ranks": dist.world_size(), "batch": batch,
                          "step_s": float(worst),
                          "sync_s": float(numpy.median(timings["sync"][2:])),
                          "grad_bytes": int(grad_bytes)}), flush=True)


# ------------------------------------------------------------------ driver
def _mpiexec():
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.access(beside, os.X_OK) else "mpiexec"


def _launch(ranks, threads, args, timeout=900):
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "NUMBA_NUM_THREADS"):
        env[k] = str(threads)
    cmd = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "minicnn.bench.distributed",
           "--worker", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"minicnn bench distributed: {' '.join(cmd)} failed: "
                         f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def run(repeat: int = 5, progress=print) -> dict:
    """Measure everything; returns the JSON document."""
    progress("allreduce sweep, 2 ranks")
    sweep = _launch(2, 1, ["allreduce", "--repeat", str(repeat)])
    alpha, beta = fit_alpha_beta([r["bytes"] for r in sweep], [r["seconds"] for r in sweep])
    steps = []
    for name, (_, batch) in MODELS.items():
        for ranks, threads, b in ((1, 1, batch), (2, 1, batch), (1, 2, 2 * batch)):
            progress(f"{name}: {ranks} rank(s) x {threads} thread(s), batch {b} per rank")
            row = _launch(ranks, threads, ["step", name, "--batch", str(b),
                                           "--repeat", str(repeat)])[0]
            row.update(threads=threads, images_per_s=ranks * b / row["step_s"])
            steps.append(row)
    projections = {}
    for name, (_, batch) in MODELS.items():
        one = next(r for r in steps if r["model"] == name and r["ranks"] == 1
                   and r["threads"] == 1)
        projections[name] = project(one["step_s"], one["grad_bytes"], batch, alpha, beta)
    return {"allreduce": sweep, "alpha_s": alpha, "beta_s_per_byte": beta,
            "bandwidth_gb_s": 1e-9 / beta if beta > 0 else None, "steps": steps,
            "projection": projections}


def markdown(doc) -> str:
    lines = [f"Fit of the 2-rank allreduce: alpha = {doc['alpha_s'] * 1e6:.1f} us, "
             f"beta = {doc['beta_s_per_byte'] * 1e9:.3f} ns/byte "
             f"({doc['bandwidth_gb_s'] or float('nan'):.2f} GB/s).", "",
             "| model | ranks x threads | batch/rank | step (ms) | gradient sync (ms) | "
             "images/s |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in doc["steps"]:
        lines.append(f"| {r['model']} | {r['ranks']} x {r['threads']} | {r['batch']} | "
                     f"{r['step_s'] * 1e3:.1f} | {r['sync_s'] * 1e3:.2f} | "
                     f"{r['images_per_s']:.0f} |")
    lines += ["", "| model | " + " | ".join(f"{p['nodes']} nodes"
                                           for p in doc["projection"]["lenet5"]) + " |",
              "| --- |" + " ---: |" * len(doc["projection"]["lenet5"])]
    for name, rows in doc["projection"].items():
        lines.append(f"| {name} | " + " | ".join(
            f"{p['images_per_s']:.0f} img/s ({p['efficiency']:.0%})" for p in rows) + " |")
    return "\n".join(lines)


def chart(doc, path) -> str:
    import matplotlib  # optional heavy dependency: only for the chart
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minicnn.runtime.fileio import save_figure
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    n = numpy.array([r["bytes"] for r in doc["allreduce"]], float)
    t = numpy.array([r["seconds"] for r in doc["allreduce"]])
    left.loglog(n, t * 1e6, "o", label="measured, 2 ranks")
    left.loglog(n, (2 * doc["alpha_s"] + doc["beta_s_per_byte"] * n) * 1e6, "-",
                label="fit 2α + βn")
    left.set_xlabel("message (bytes)")
    left.set_ylabel("allreduce (µs)")
    left.set_title("MPI allreduce on this machine")
    left.legend()
    for name, rows in doc["projection"].items():
        right.plot([r["nodes"] for r in rows], [r["efficiency"] for r in rows], "o-",
                   label=name)
    right.set_xscale("log", base=2)
    right.set_ylim(0, 1.05)
    right.set_xlabel("nodes (batch per node fixed)")
    right.set_ylabel("parallel efficiency")
    right.set_title("α–β ring-allreduce projection")
    right.legend()
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minicnn.bench.distributed",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--out", metavar="DIR", help="write distributed.png into DIR")
    args = parser.parse_args(argv)
    if args.worker:
        from minicnn.runtime.threads import limit_threads
        limit_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        if args.worker[0] == "allreduce":
            _worker_allreduce(args.repeat)
        else:
            _worker_step(args.worker[1], args.batch, args.repeat)
        return 0
    doc = run(args.repeat, lambda m: print(f"  .. {m}", file=sys.stderr, flush=True))
    print(markdown(doc))
    if args.json:
        from minicnn.runtime.fileio import write_json
        write_json(doc, args.json)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        print(f"chart: {chart(doc, os.path.join(args.out, 'distributed.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
