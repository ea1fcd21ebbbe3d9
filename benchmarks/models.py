"""Per-model benchmark: training and inference images/s, minicnn beside PyTorch.

Both frameworks run the same network with the same weights (minicnn's weights
are copied into the PyTorch twin through ``state_dict``): a training step is
forward + cross-entropy + backward + SGD-momentum update; inference is a
forward pass in eval mode without a graph.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy

from minicnn.bench.environment import PeakMemory
from minicnn.bench.ops import add_ratios
from minicnn.bench.timing import measure_interleaved

__all__ = ["ModelSpec", "MODELS", "QUICK_MODELS", "run_models", "memory_check"]


@dataclass
class ModelSpec:
    name: str               # minicnn.zoo name
    kwargs: dict            # builder arguments
    input_shape: tuple      # (C, H, W)
    batch: int
    num_classes: int


MODELS = [
    ModelSpec("lenet5", {"variant": "modern"}, (1, 28, 28), 64, 10),
    ModelSpec("resnet20", {}, (3, 32, 32), 32, 10),
    ModelSpec("alexnet", {}, (3, 224, 224), 4, 1000),
    ModelSpec("vgg16", {}, (3, 224, 224), 2, 1000),
    ModelSpec("googlenet", {"aux_logits": False}, (3, 224, 224), 4, 1000),
    ModelSpec("resnet50", {}, (3, 224, 224), 4, 1000),
]
QUICK_MODELS = [ModelSpec("lenet5", {"variant": "modern"}, (1, 28, 28), 32, 10)]


def _build_pair(spec):
    """The minicnn model and its PyTorch twin, holding the same weights."""
    from minicnn import zoo
    from minicnn.bench.torch_twins import torch_twin

    ours = zoo.get_model(spec.name, num_classes=spec.num_classes,
                         in_channels=spec.input_shape[0], **spec.kwargs)
    theirs = torch_twin(spec, ours)
    return ours, theirs


def _minicnn_steps(model, x, y, backend_name):
    import minicnn
    import minicnn.functional as F
    from minicnn import optim

    opt = optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    xt = minicnn.Tensor(x)

    def train_step():
        with minicnn.use_backend(backend_name):
            model.train()
            loss = F.cross_entropy(model(xt), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    folded = []  # the inference copy, made at the first (untimed) inference call

    def infer():
        with minicnn.use_backend(backend_name):
            if not folded:
                model.eval()
                folded.append(minicnn.optimize_for_inference(model, example_input=xt[:1]))
            with minicnn.no_grad():
                folded[0](xt)

    return train_step, infer


def _torch_steps(model, x, y):
    import torch

    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def train_step():
        model.train()
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def infer():
        model.eval()
        with torch.no_grad():
            model(xt)

    return train_step, infer


def run_models(specs, engine_list, warmup=1, repeat=3, progress=None):
    """Training and inference images/s for each model on each CPU engine.

    A model's engines are timed in alternating rounds (``measure_interleaved``):
    ``repeat`` rounds, each giving every engine ``warmup`` untimed steps and at
    least 0.4 s of timed ones. Peak memory is read over each engine's first,
    untimed step, which allocates everything a step needs.
    """
    records = []
    for spec in specs:
        rng = numpy.random.default_rng(0)
        x = rng.standard_normal((spec.batch, *spec.input_shape)).astype(numpy.float32)
        y = rng.integers(0, spec.num_classes, spec.batch)
        steps = {}
        for framework, backend_name in engine_list:
            if backend_name == "cuda":
                continue  # CPU engines here; the GPU suite times models on CUDA
            ours, theirs = _build_pair(spec)
            if framework == "minicnn":
                steps[framework, backend_name] = _minicnn_steps(ours, x, y, backend_name)
            else:
                steps[framework, backend_name] = _torch_steps(theirs, x, y)
        for mode, index in (("train", 0), ("inference", 1)):
            if progress:
                progress(f"{spec.name} {mode} [{', '.join('/'.join(e) for e in steps)}]")
            peaks = {}
            for engine, fns in steps.items():
                with PeakMemory() as memory:
                    fns[index]()
                peaks[engine] = memory.peak_bytes
            timings = measure_interleaved({e: fns[index] for e, fns in steps.items()},
                                          rounds=repeat, calls=2, warmup=warmup,
                                          round_seconds=0.4)
            for (framework, backend_name), timing in timings.items():
                records.append({
                    "model": spec.name, "mode": mode, "framework": framework,
                    "backend": backend_name, "batch": spec.batch,
                    "input_shape": list(spec.input_shape),
                    "images_per_s": spec.batch / timing.median,
                    "peak_rss_bytes": peaks[framework, backend_name], **timing.as_dict()})
    return add_ratios(records, key=("model", "mode"))


def memory_check(backend_name: str, batch: int = 32, size: int = 224) -> dict:
    """Peak resident memory of one VGG-16 training step (the memory target in RESULTS.md).

    VGG-16 at batch 32 and 224x224 keeps ~15 GFLOP of activations per image for
    backward; with the im2col workspace bounded it must fit in 24 GiB.
    """
    import time

    from minicnn import zoo
    from minicnn.backend import get_workspace

    spec = ModelSpec("vgg16", {}, (3, size, size), batch, 1000)
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((batch, 3, size, size)).astype(numpy.float32)
    y = rng.integers(0, 1000, batch)
    with PeakMemory() as memory:
        model = zoo.get_model("vgg16", num_classes=1000)
        train_step, _ = _minicnn_steps(model, x, y, backend_name)
        start = time.perf_counter()
        train_step()
        seconds = time.perf_counter() - start
    return {"model": spec.name, "batch": batch, "input_shape": list(spec.input_shape),
            "backend": backend_name, "seconds": seconds,
            "peak_rss_bytes": memory.peak_total_bytes,
            "workspace_bytes": get_workspace()}
