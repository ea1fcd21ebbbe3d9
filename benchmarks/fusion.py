"""Fused ReLU: the one-node BatchNorm-ReLU, add-ReLU and conv-ReLU paths against
the unfused pairs they replace, numba backend, alternating rounds.

    python -m minicnn.bench.fusion            # ops at ResNet-20 sizes, a ResNet-20
                                              # training step, two inference models
    python -m minicnn.bench.fusion --quick    # one op size, fewer rounds
    python -m minicnn.bench.fusion --rounds 15   # more rounds on a noisy machine

* ops, forward + backward at ResNet-20's activation sizes (batch 32):
  ``relu(batch_norm(x))`` (two nodes) against ``batch_norm_relu(x)`` and against
  ``relu(batch_norm(x), inplace=True)`` (the BatchNorm node absorbs the ReLU), and
  ``relu(a + b)`` against ``add_relu(a, b)`` and ``relu(a + b, inplace=True)``;
* a ResNet-20 training step (batch 32: forward, cross-entropy, backward, SGD):
  the zoo model as written (``nn.ReLU(inplace=True)``, so its BatchNorm -> ReLU
  and add -> ReLU pairs are fused nodes) against the same model, same weights,
  with every ReLU's ``inplace`` set to False (separate ReLU nodes, as before
  in-place ReLU existed);
* inference: ``optimize_for_inference(model)`` (BatchNorm folded, ReLU fused
  into the conv, no graph) against ``model.eval()`` under ``no_grad`` for
  ResNet-20 (batch 32, 32x32) and VGG-16 (CIFAR head, batch 8, 32x32).

Every pair is checked to give the same numbers before it is timed.
"""
from __future__ import annotations

import argparse
import copy

import numpy

import minicnn.functional as F
from minicnn.autograd import Tensor, no_grad
from minicnn.backend import set_backend
from minicnn.bench.timing import measure_interleaved
from minicnn.nn import ReLU, optimize_for_inference
from minicnn.optim import SGD
from minicnn.rng import manual_seed
from minicnn.zoo import get_model

__all__ = ["OP_SHAPES", "run_ops", "run_training_step", "run_inference", "main"]

# ResNet-20's three stages at batch 32: (N, C, H, W)
OP_SHAPES = [(32, 16, 32, 32), (32, 32, 16, 16), (32, 64, 8, 8)]


def _close(a, b, what):
    if not numpy.allclose(a, b, rtol=1e-4, atol=1e-5):
        raise AssertionError(f"fusion bench: {what} differ by {numpy.abs(a - b).max():.3g}")


def _bn_relu_variants(shape, rng):
    x0 = rng.standard_normal(shape).astype(numpy.float32)
    C = shape[1]
    weight0 = rng.uniform(0.5, 1.5, C).astype(numpy.float32)
    bias0 = rng.normal(0, 0.5, C).astype(numpy.float32)
    gy = rng.standard_normal(shape).astype(numpy.float32)

    def make(build):
        def step():
            x = Tensor(x0, requires_grad=True)
            w, b = Tensor(weight0, requires_grad=True), Tensor(bias0, requires_grad=True)
            rm, rv = numpy.zeros(C, numpy.float32), numpy.ones(C, numpy.float32)
            y = build(x, rm, rv, w, b)
            y.backward(gy)
            return x.grad
        return step

    return {
        "unfused": make(lambda x, rm, rv, w, b: F.relu(F.batch_norm(x, rm, rv, w, b, True))),
        "fused": make(lambda x, rm, rv, w, b: F.batch_norm_relu(x, rm, rv, w, b, True)),
        "inplace": make(lambda x, rm, rv, w, b: F.relu(F.batch_norm(x, rm, rv, w, b, True),
                                                       inplace=True)),
    }


def _add_relu_variants(shape, rng):
    a0, b0, gy = (rng.standard_normal(shape).astype(numpy.float32) for _ in range(3))

    def make(build):
        def step():
            a, b = Tensor(a0, requires_grad=True), Tensor(b0, requires_grad=True)
            build(a, b).backward(gy)
            return a.grad
        return step

    return {"unfused": make(lambda a, b: F.relu(a + b)),
            "fused": make(F.add_relu),
            "inplace": make(lambda a, b: F.relu(a + b, inplace=True))}


def run_ops(shapes=OP_SHAPES, rounds=7) -> list:
    """Forward + backward medians of each variant: one record per (op, shape)."""
    records = []
    rng = numpy.random.default_rng(0)
    for op, variants in (("batch_norm -> relu", _bn_relu_variants),
                         ("add -> relu", _add_relu_variants)):
        for shape in shapes:
            fns = variants(shape, rng)
            want = fns["unfused"]()
            for key in ("fused", "inplace"):
                _close(fns[key](), want, f"{op} {key} and unfused gradients")
            t = measure_interleaved(fns, rounds=rounds, calls=3, warmup=1)
            records.append({"op": op, "shape": shape,
                            **{f"{k}_ms": t[k].median * 1e3 for k in fns},
                            "fused_over_unfused": t["fused"].median / t["unfused"].median,
                            "inplace_over_unfused": t["inplace"].median / t["unfused"].median})
    return records


def _without_inplace_relu(model):
    """A copy of ``model`` whose ReLU modules all compute out of place."""
    twin = copy.deepcopy(model)
    for m in twin.modules():
        if isinstance(m, ReLU):
            m.inplace = False
    return twin


def run_training_step(batch=32, rounds=7) -> dict:
    """ResNet-20 training step: zoo model (in-place ReLUs, fused) vs all ReLUs out of place."""
    manual_seed(0)
    fused = get_model("resnet20", num_classes=10).train()
    models = {"unfused": _without_inplace_relu(fused), "fused": fused}
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(numpy.float32)
    target = rng.integers(0, 10, batch)
    optimizers = {k: SGD(m.parameters(), lr=1e-3, momentum=0.9)
                  for k, m in models.items()}

    def step(key):
        model, opt = models[key], optimizers[key]
        opt.zero_grad()
        loss = F.cross_entropy(model(Tensor(x)), target)
        loss.backward()
        opt.step()
        return float(loss)

    _close(step("fused"), step("unfused"), "ResNet-20 losses")
    t = measure_interleaved({k: (lambda k=k: step(k)) for k in models}, rounds=rounds,
                            calls=2, warmup=1)
    return {"model": "ResNet-20 train step", "batch": batch,
            **{f"{k}_ms": t[k].median * 1e3 for k in models},
            "fused_over_unfused": t["fused"].median / t["unfused"].median}


def run_inference(rounds=7) -> list:
    """optimize_for_inference vs eval + no_grad on ResNet-20 and VGG-16 (32x32)."""
    records = []
    for name, kwargs, batch in (("resnet20", {}, 32), ("vgg16", {"cifar": True}, 8)):
        manual_seed(0)
        model = get_model(name, num_classes=10, **kwargs).eval()
        x = Tensor(numpy.random.default_rng(0).standard_normal((batch, 3, 32, 32))
                   .astype(numpy.float32))
        folded = optimize_for_inference(model, example_input=x.data[:1])

        def plain():
            with no_grad():
                return model(x).numpy()

        def optimized():
            return folded(x).numpy()

        _close(optimized(), plain(), f"{name} logits")
        t = measure_interleaved({"eval": plain, "optimized": optimized}, rounds=rounds,
                                calls=2, warmup=1)
        records.append({"model": name, "batch": batch, "eval_ms": t["eval"].median * 1e3,
                        "optimized_ms": t["optimized"].median * 1e3,
                        "optimized_over_eval": t["optimized"].median / t["eval"].median})
    return records


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m minicnn.bench.fusion",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one op size, 3 rounds")
    parser.add_argument("--rounds", type=int, default=7,
                        help="alternating rounds per comparison (default 7)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    set_backend("numba")
    rounds = 3 if args.quick else args.rounds
    for r in run_ops(OP_SHAPES[-1:] if args.quick else OP_SHAPES, rounds):
        print(f"{r['op']:20s} {str(r['shape']):18s} unfused {r['unfused_ms']:7.2f} ms  "
              f"fused {r['fused_ms']:7.2f} ms ({r['fused_over_unfused']:.2f}x)  "
              f"in-place {r['inplace_ms']:7.2f} ms ({r['inplace_over_unfused']:.2f}x)")
    if args.quick:
        return
    r = run_training_step(rounds=rounds)
    print(f"{r['model']} batch {r['batch']}: unfused {r['unfused_ms']:.1f} ms  "
          f"fused {r['fused_ms']:.1f} ms ({r['fused_over_unfused']:.2f}x)")
    for r in run_inference(rounds):
        print(f"{r['model']} inference batch {r['batch']}: eval {r['eval_ms']:.1f} ms  "
              f"optimize_for_inference {r['optimized_ms']:.1f} ms "
              f"({r['optimized_over_eval']:.2f}x)")


if __name__ == "__main__":
    main()
