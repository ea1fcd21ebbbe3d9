"""The ``minicnn`` command line (console script ``minicnn`` and ``python -m minicnn``).

    minicnn train lenet5 --variant modern --data fashion-mnist --epochs 3 --out runs/lenet
    minicnn eval runs/lenet/checkpoint_best.npz --data fashion-mnist --json
    minicnn predict runs/lenet/checkpoint_best.npz shirt.png
    minicnn summary resnet18 --input-shape 3,224,224
    minicnn gradcheck conv2d
    minicnn visualize runs/lenet/checkpoint_best.npz --out runs/lenet/pictures
    minicnn graph resnet18 --input-shape 3,32,32 --out resnet18.svg
    minicnn profile resnet18 --input-shape 3,32,32 --steps 3 --trace step.json
    minicnn explain conv2d --input 1,7,7 --kernel 3 --stride 2 --padding 1 --out pics
    minicnn info
    minicnn demo
    minicnn exercise check conv_naive

Every command has ``--help``. A bad argument, a missing file or dataset, or a
failed run ends with ONE line on stderr and a non-zero exit status (2 for
usage errors, 1 for the rest); set MINICNN_DEBUG=1 to see the traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import minicnn.functional as F
from minicnn.nn.fuse import optimize_for_inference
from minicnn.rng import manual_seed
from minicnn.runtime.fileio import strict_json
from minicnn.tools import exercise_cli, gradcheck_suite
from minicnn.tools.info import backend_line
from minicnn.train import evaluate, recipe
from minicnn.train.recipe import (
    DATASET_CHOICES,
    RESUME_MAY_CHANGE,
    RESUME_MUST_MATCH,
    TrainConfig,
    build_model,
    fit,
    load_data,
    model_from_checkpoint,
    resolve_model_name,
)
from minicnn.zoo import list_models

__all__ = ["main", "build_parser", "build_model", "resolve_model_name", "CommandError"]


class CommandError(Exception):
    """An error the CLI reports as one line (exit status 1)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: 'minicnn train: error: ...'."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --------------------------------------------------------------------- models
def _model_names() -> list:
    return list_models()


# ------------------------------------------------------------------ settings
def _setup_backend(args) -> str:
    """Apply --backend/--device (minicnn.set_backend); returns the array device."""
    import minicnn
    device = getattr(args, "device", None) or "cpu"
    name = getattr(args, "backend", None)
    if device == "cuda":
        if name not in (None, "cuda"):
            raise CommandError(f"--device cuda needs --backend cuda, got --backend {name}")
        name = "cuda"
    if name is not None:
        minicnn.set_backend(name)
    args._thread_limits = _limit_threads(getattr(args, "threads", None))
    from minicnn.runtime.malloc import retain_freed_memory
    retain_freed_memory()  # this process trains: keep freed pages for the next step
    return device


def _limit_threads(n):
    """Cap the BLAS and Numba thread pools (default 1); 0 leaves the libraries' defaults.

    minicnn's matrices are small (a batch of im2col columns): extra threads
    cost more in synchronisation than they give, and on a busy 2-core machine
    they make training 10-20x slower. Returns the limit (main() restores the
    original pools when the command ends).
    """
    if n == 0:
        return None
    from minicnn.runtime.threads import limit_threads
    return limit_threads(1 if n is None else n)


# ---------------------------------------------------------------------- train
def _progress_flag(args):
    if getattr(args, "progress", None) is not None:
        return args.progress
    return None  # tqdm only when stderr is a terminal


# --- data-parallel (--distributed): everything the CLI adds for MPI lives in these two
# functions and the hook handed to fit(); docs/distributed.md.
def _distributed_hook(args):
    """A DataParallelHook after joining the MPI job (--distributed), else None."""
    if not getattr(args, "distributed", False):
        if getattr(args, "lr_warmup", None) is not None:
            raise CommandError("--lr-warmup scales the rate by the number of ranks; it "
                               "needs --distributed (under mpiexec -n N)")
        return None
    import minicnn.distributed as dist  # mpi4py is optional: loaded only for --distributed
    dist.init()
    return dist.DataParallelHook(lr_warmup=args.lr_warmup)


def _fit_distributed(config, hook):
    """fit() on every rank; an error on one rank ends the whole job (no rank waits)."""
    import minicnn.distributed as dist
    try:
        return fit(config, log=print if hook.is_writer else None, distributed=hook)
    except (Exception, KeyboardInterrupt) as e:
        if dist.is_initialized() and dist.world_size() > 1:
            dist.abort(f"minicnn train: error: {_one_line(e)}")
        raise


def cmd_train(args) -> int:
    config = TrainConfig.from_args(args)
    config.progress = _progress_flag(args)
    config.validate()  # a bad model, dataset or schedule fails before any data is read
    hook = _distributed_hook(args)
    writer = hook is None or hook.is_writer  # distributed: rank 0 alone prints and writes
    _setup_backend(args)
    if writer:
        print(backend_line())  # which code runs the hot loops: numba kernels or the reference
    result = fit(config, log=print) if hook is None else _fit_distributed(config, hook)
    out = result.out
    if writer:
        print(f"wrote {os.path.join(out, 'metrics.json')}, {os.path.join(out, 'curves.png')} "
              f"and checkpoints in {out}")
    args._result = result
    return 0


# ------------------------------------------------------------ checkpoints
def _folded(model, cfg):
    """The checkpoint's model with BatchNorm folded into its convs (outputs unchanged
    to float32 rounding); one blank image traces which conv feeds which BN."""
    import numpy
    C, S = cfg["in_channels"], cfg["input_size"]
    return optimize_for_inference(model, example_input=numpy.zeros((1, C, S, S), numpy.float32))


def cmd_eval(args) -> int:
    device = _setup_backend(args)
    model, cfg = model_from_checkpoint(args.checkpoint, device)
    ds = load_data(args.data or cfg.get("dataset") or "", download=not args.no_download)
    if ds.image_shape != (cfg["in_channels"], cfg["input_size"], cfg["input_size"]) or \
            ds.num_classes != cfg["num_classes"]:
        raise CommandError(f"{ds.name} images are {ds.image_shape} with {ds.num_classes} "
                           f"classes, but the checkpoint was trained on {cfg.get('dataset')} "
                           f"({cfg['in_channels']}, {cfg['input_size']}, {cfg['input_size']}) "
                           f"with {cfg['num_classes']} classes")
    loader = recipe.test_loader(ds, cfg["mean"], cfg["std"], args.limit, args.batch_size,
                                device)
    model = _folded(model, cfg)
    result = evaluate(model, loader, progress=_progress_flag(args), desc="eval")
    metrics = {"checkpoint": args.checkpoint, "dataset": ds.name, "split": "test",
               "test_loss": result["loss"], "test_accuracy": result["accuracy"],
               "test_top5_accuracy": result["top5_accuracy"], "count": result["count"]}
    if args.json:
        print(json.dumps(strict_json(metrics), indent=2, allow_nan=False))
    else:
        print(f"{ds.name} test ({result['count']} images): loss {result['loss']:.4f}  "
              f"accuracy {result['accuracy']:.4f}  top-5 {result['top5_accuracy']:.4f}")
    return 0


def _read_image(path: str, channels: int, size: int, invert: bool = False):
    """An image file -> float32 (C, size, size) in [0, 1] (Pillow reads it)."""
    import numpy
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise CommandError("reading images needs Pillow: pip install pillow") from None
    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB").resize((size, size),
                                                                     Image.BILINEAR)
            array = numpy.asarray(im, dtype=numpy.float32) / 255.0
    except FileNotFoundError:
        raise CommandError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as e:
        raise CommandError(f"cannot read image {path}: {e}") from None
    if channels == 1:
        array = array[None]                 # (H, W) -> (1, H, W)
    else:
        array = array.transpose(2, 0, 1)    # (H, W, C) -> (C, H, W)
    return 1.0 - array if invert else array


def cmd_predict(args) -> int:
    import numpy

    import minicnn
    from minicnn.data import transforms as T

    _setup_backend(args)
    model, cfg = model_from_checkpoint(args.checkpoint)
    C, S = cfg["in_channels"], cfg["input_size"]
    batch = numpy.stack([_read_image(p, C, S, args.invert) for p in args.images])
    x = T.Normalize(cfg["mean"], cfg["std"])(batch)
    model = _folded(model, cfg)
    with minicnn.no_grad():
        probs = F.softmax(model(minicnn.Tensor(x)), dim=1).numpy()
    classes = cfg["classes"]
    k = min(args.top, probs.shape[1])
    results = []
    for path, p in zip(args.images, probs):
        top = numpy.argsort(-p, kind="stable")[:k]
        results.append({"image": path, "top": [
            {"class": int(i), "name": classes[i], "probability": float(p[i])} for i in top]})
    if args.json:
        print(json.dumps(strict_json(results), indent=2, allow_nan=False))
        return 0
    for r in results:
        print(r["image"])
        for rank, t in enumerate(r["top"], start=1):
            print(f"  {rank}. {t['name']:<16} {t['probability']:.4f}")
    return 0


# -------------------------------------------------------------------- summary
def _parse_ints(text: str, flag: str, example: str, count: int | None = None) -> tuple:
    """'3,32,32' (or '3x32x32') -> (3, 32, 32): positive ints, ``count`` of them if given."""
    try:
        values = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise CommandError(f"bad {flag} {text!r}; expected positive ints such as {example}") \
            from None
    if (count is not None and len(values) != count) or min(values) < 1:
        many = f"{count} positive ints" if count is not None else "positive ints"
        raise CommandError(f"bad {flag} {text!r}; expected {many} such as {example}")
    return values


def _parse_shape(text: str) -> tuple:
    """--input-shape C,H,W."""
    return _parse_ints(text, "--input-shape", "3,32,32", count=3)


def _zoo_model(args):
    """(model, display name, (C, H, W)) for a command's MODEL, --input-shape (default:
    the model's own), --num-classes and --variant."""
    C, H, W = _parse_shape(args.input_shape) if args.input_shape else _default_shape(args.model)
    if H != W:
        raise CommandError(f"--input-shape {args.input_shape}: the zoo builds square inputs")
    model, key, variant = build_model(args.model, args.num_classes, C, H, args.variant)
    return model, f"{key}{'-' + variant if variant else ''}", (C, H, W)


def _training_loss(out, labels_rng, batch_size):
    """Cross-entropy on random labels over a model's output; GoogLeNet's auxiliary
    heads (a tuple of outputs in training mode) add 0.3 of theirs, the paper's weight."""
    heads = list(out) if isinstance(out, tuple) else [out]
    labels = labels_rng.integers(0, heads[0].shape[1], batch_size)
    loss = F.cross_entropy(heads[0], labels)
    for aux in heads[1:]:
        loss = loss + 0.3 * F.cross_entropy(aux, labels)
    return loss


def cmd_summary(args) -> int:
    from minicnn.tools.summary import summary
    model, name, shape = _zoo_model(args)
    summary(model, shape, model_name=name)
    return 0


def _default_shape(name: str) -> tuple:
    key = name.lower()
    if key.startswith("lenet"):
        return (1, 28, 28) if "modern" in key else (1, 32, 32)
    if key.startswith(("resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                       "alexnet", "googlenet")) or (key.startswith("vgg")):
        return (3, 224, 224)
    if key == "fashion_mnist_cnn":
        return (1, 28, 28)
    return (3, 32, 32)


# ------------------------------------------------------------------ gradcheck
def cmd_gradcheck(args) -> int:
    target = args.target
    if args.localize:
        if target == "all" or target.endswith(".py") or ".py:" in target:
            raise CommandError("--localize checks a zoo model: give its name, e.g. "
                               "minicnn gradcheck lenet5 --localize")
        C, H, W = _parse_shape(args.input_shape) if args.input_shape else \
            _default_shape(target)
        manual_seed(args.seed)  # the same weights, and so the same table, every run
        model, key, variant = build_model(target, None, C, H, args.variant)
        report = gradcheck_suite.localize(model, (C, H, W), seed=args.seed)
        print(f"{key}{'-' + variant if variant else ''}: every node of one float64 forward "
              f"(batch 2 of {C}x{H}x{W}, training mode, cross-entropy loss)")
        print(report)
        failure = report.first_failure
        if failure is not None:
            print(f"first wrong backward: node {failure.position}, {failure.op}",
                  file=sys.stderr)
            return 1
        return 0
    if target.endswith(".py") or ".py:" in target:
        shapes = [_parse_ints(text, "--shape", "2,3") for text in args.shape or []]
        result = gradcheck_suite.check_file(target, shapes, seed=args.seed)
        print(result)
        if not result.passed:
            print(result.failure_line(), file=sys.stderr)
            return 1
        return 0
    if args.shape:
        raise CommandError("--shape gives the inputs of FILE.py:FUNCTION, not of an op")
    names = list(gradcheck_suite.OPS) if target == "all" else [target]
    rows = gradcheck_suite.run_suite(names, seed=args.seed)
    print(gradcheck_suite.format_table(rows))
    failed = [r for r in rows if not r["passed"]]
    if failed:
        print(f"{len(failed)} of {len(rows)} checks failed: "
              f"{', '.join(r['op'] + '/' + r['input'] for r in failed)}", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------- graph
def cmd_graph(args) -> int:
    """Draw the training graph of a zoo model: forward, loss, backward, one picture."""
    import numpy

    import minicnn
    from minicnn.tools.graph import draw_graph, trace_graph

    model, name, (C, H, W) = _zoo_model(args)
    model.train()  # the training graph: dropout, batch statistics, auxiliary heads
    rng = numpy.random.default_rng(args.seed)
    x = minicnn.Tensor(rng.standard_normal((args.batch_size, C, H, W)).astype(numpy.float32))
    with trace_graph(model) as stats:
        loss = _training_loss(model(x), rng, args.batch_size)
        loss.backward(retain_graph=True)  # keep the saved buffers to count them
    title = f"{name}, input ({args.batch_size}, {C}, {H}, {W}), training graph"
    written = draw_graph(loss, args.out, timing=args.timing,
                         params=dict(model.named_parameters()), title=title)
    print(f"{name}: {stats['nodes']} Function nodes, {model.num_parameters():,} parameters")
    for path in written:
        print(path)
    return 0

# -------------------------------------------------------------------- profile
def cmd_profile(args) -> int:
    """Time a few training (or eval) steps of a zoo model, op by op."""
    import statistics
    import time

    import numpy

    import minicnn
    from minicnn.optim import SGD
    from minicnn.tools.graph import _human
    from minicnn.tools.profile import profile

    _setup_backend(args)
    model, name, (C, H, W) = _zoo_model(args)
    training = not args.eval
    model.train(training)
    optimizer = SGD(model.parameters(), lr=0.01)
    rng = numpy.random.default_rng(args.seed)
    x = minicnn.Tensor(rng.standard_normal((args.batch_size, C, H, W)).astype(numpy.float32))

    def step():
        if not training:
            with minicnn.no_grad():
                model(x)
            return
        loss = _training_loss(model(x), rng, args.batch_size)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def timed(run) -> float:
        start = time.perf_counter()
        run()
        return time.perf_counter() - start

    step()  # warm-up: Numba compiles, the workspace and allocator grow
    plain = [timed(step) for _ in range(args.steps)]
    with profile() as prof:
        profiled = [timed(step) for _ in range(args.steps)]
    mode = "training (forward, cross-entropy, backward, SGD)" if training else \
        "eval (forward under no_grad)"
    print(f"{name}, input ({args.batch_size}, {C}, {H}, {W}), {mode}, {args.steps} timed "
          f"step{'s' if args.steps > 1 else ''}; {backend_line()}")
    print(prof.table())
    memory = prof.memory()
    top = ", ".join(f"{op} {_human(b)}" for op, b in list(memory["by_op"].items())[:3]
                    if b > 0)
    print(f"peak held for backward: {_human(memory['peak_bytes'])}"
          + (f" (saved over the {args.steps} profiled step{'s' if args.steps > 1 else ''}, "
             f"most by {top})" if top else ""))
    without, with_ = statistics.median(plain), statistics.median(profiled)
    print(f"step time: {without * 1e3:.2f} ms without the profiler, {with_ * 1e3:.2f} ms "
          f"with it (median of {args.steps}; overhead "
          f"{100.0 * (with_ - without) / without:+.1f}%)")
    if args.trace:
        print(f"wrote {prof.chrome_trace(args.trace)} (open in https://ui.perfetto.dev "
              f"or chrome://tracing)")
    args._profile = prof
    return 0


# -------------------------------------------------------------------- explain
def _pair_arg(text):
    """An argparse type: 'K' or 'KH,KW' -> (KH, KW)."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int or two ints A,B, got {text!r}") \
            from None
    if len(values) == 1:
        return values * 2
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected an int or two ints A,B, got {text!r}")
    return values


def cmd_explain(args) -> int:
    """Print an op's arithmetic step by step and draw its index pictures."""
    from minicnn.tools import explain

    C, H, W = _parse_shape(args.input)
    for name in ("kernel", "stride", "dilation"):
        value = getattr(args, name)
        if value is not None and min(value) < 1:
            raise CommandError(f"--{name} must be >= 1, got {value}")
    if min(args.padding) < 0:
        raise CommandError(f"--padding must be >= 0, got {args.padding}")
    geometry = dict(PH=args.padding[0], PW=args.padding[1],
                    DH=args.dilation[0], DW=args.dilation[1])
    try:
        if args.op == "conv2d":
            KH, KW = args.kernel or (3, 3)
            SH, SW = args.stride or (1, 1)
            written = explain.explain_conv2d(C, H, W, args.out_channels or C, KH, KW, SH, SW,
                                             groups=args.groups, out_dir=args.out, **geometry)
        elif args.op == "max_pool2d":
            KH, KW = args.kernel or (2, 2)
            SH, SW = args.stride or (KH, KW)
            written = explain.explain_max_pool2d(C, H, W, KH, KW, SH, SW, out_dir=args.out,
                                                 **geometry)
        else:
            written = explain.explain_batch_norm(C, H, W, N=args.batch, seed=args.seed,
                                                 out_dir=args.out)
    except ValueError as e:
        raise CommandError(str(e).removeprefix("explain: ")) from None
    for path in written:
        print(f"wrote {path}")
    return 0

# ------------------------------------------------------------------ visualize
def cmd_visualize(args) -> int:
    import warnings

    from minicnn.tools.visualize import visualize

    _setup_backend(args)
    classes, image, source = None, None, None
    if os.path.isfile(args.model):
        model, cfg = model_from_checkpoint(args.model)
        C, S = int(cfg["in_channels"]), int(cfg["input_size"])
        mean, std, classes = cfg["mean"], cfg["std"], cfg.get("classes")
        if not args.image:
            image, source = _dataset_image(cfg["dataset"], args.class_index)
    else:
        if args.model.lower().endswith(".npz") or os.sep in args.model:
            raise CommandError(f"checkpoint {args.model} does not exist")
        C, S, _ = _default_shape(args.model)
        if args.input_shape:
            C, S, _ = _parse_shape(args.input_shape)
        model, _, _ = build_model(args.model, args.num_classes, C, S, args.variant)
        model.eval()
        mean, std = [0.5] * C, [0.25] * C
        warnings.warn(f"visualize: {args.model} is a zoo name, so its weights are random: the "
                      f"filters and feature maps show noise, not learned features; pass a "
                      f"checkpoint (minicnn train ... --out DIR) for trained ones",
                      stacklevel=1)
    if args.image:
        image, source = _read_image(args.image, C, S, args.invert), args.image
    if source:
        print(f"image: {source}")
    written = visualize(model, args.out, image=image, mean=mean, std=std,
                        input_shape=(C, S, S), classes=classes, target=args.target,
                        shared_scale=args.shared_scale, print_fn=print)
    for path in written:
        print(path)
    return 0


def _dataset_image(dataset: str, class_index: int):
    """The first test image of class ``class_index`` as float (C, H, W) in [0, 1]."""
    import numpy
    ds = load_data(dataset, download=False)
    if not 0 <= class_index < ds.num_classes:
        raise CommandError(f"--class {class_index} is not a class of {ds.name} "
                           f"(0 .. {ds.num_classes - 1})")
    hits = numpy.flatnonzero(ds.test_labels == class_index)
    if hits.size == 0:
        raise CommandError(f"{ds.name}'s test set has no image of class {class_index}")
    k = int(hits[0])
    image = ds.test_images[k].astype(numpy.float32) / 255.0   # uint8 (C, H, W) -> [0, 1]
    return image, f"{ds.name} test image {k} (class {class_index}: {ds.classes[class_index]})"


# ----------------------------------------------------------------------- info
def cmd_info(args) -> int:
    from minicnn.tools.info import info
    info()
    return 0


# ----------------------------------------------------------------------- demo
def cmd_demo(args) -> int:
    import numpy

    import minicnn
    from minicnn.data import DataNotFoundError, load_dataset

    data = "fashion-mnist"
    try:
        load_dataset(data, download=False)
    except DataNotFoundError:
        print("Fashion-MNIST is not installed (sudo apt-get install dataset-fashion-mnist, "
              "or put the files in ~/.cache/minicnn/fashion-mnist); "
              "falling back to scikit-learn's 8x8 digits")
        data = "digits"
    train_args = build_parser().parse_args([
        "train", "lenet5", "--variant", "modern", "--data", data,
        "--epochs", str(args.epochs), "--batch-size", "32", "--optimizer", "adam",
        "--lr", "0.003", "--schedule", "step:1:0.3", "--val-split", "0.1", "--seed",
        str(args.seed), "--out", args.out, "--no-download",
    ] + (["--limit", str(args.limit)] if args.limit else [])
        + (["--backend", args.backend] if args.backend else [])
        + (["--threads", str(args.threads)] if args.threads is not None else []))
    train_args.progress = args.progress
    try:
        status = cmd_train(train_args)
    finally:
        args._thread_limits = getattr(train_args, "_thread_limits", None)
    result = train_args._result
    trainer, ds, metrics = result.trainer, result.dataset, result.metrics
    x, y = next(iter(result.test_loader))
    with minicnn.no_grad():
        trainer.model.eval()
        probs = F.softmax(trainer.model(x[:8]), dim=1).numpy()
    print("a few test images:")
    for p, label in zip(probs, y.numpy()[:8]):
        guess = int(numpy.argmax(p))
        mark = "ok " if guess == label else "MISS"
        print(f"  {mark} true {ds.classes[label]:<12} predicted {ds.classes[guess]:<12} "
              f"({p[guess]:.2f})")
    print(f"Fashion-MNIST demo: test accuracy {metrics['test_accuracy']:.4f}; curves in "
          f"{os.path.join(args.out, 'curves.png')}" if ds.name == "fashion-mnist" else
          f"digits fallback: test accuracy {metrics['test_accuracy']:.4f}; curves in "
          f"{os.path.join(args.out, 'curves.png')}")
    return status


# ---------------------------------------------------------------------- bench
def cmd_bench(args) -> int:
    from minicnn.bench.cli import main as bench_main
    return bench_main(args.bench_args)


# --------------------------------------------------------------------- parser
def _add_runtime(p, device=True, default_backend="auto = numba if installed"):
    p.add_argument("--backend", choices=["numpy", "numba", "cuda", "auto"],
                   help=f"who runs the hot loops (default: {default_backend})")
    if device:
        p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                       help="where the arrays live (cuda implies --backend cuda)")
    p.add_argument("--threads", type=_non_negative_int, metavar="N",
                   help="BLAS and Numba threads (default 1, fastest for minicnn's small "
                   "matrices; 0 keeps the libraries' defaults)")


def _add_progress(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="always show progress bars (default: only on a terminal)")
    g.add_argument("--no-progress", dest="progress", action="store_false",
                   help="never show progress bars")


def _at_least(convert, low, description):
    """An argparse type: ``convert(text)``, which must be >= ``low``."""
    def parse(text):
        try:
            v = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}") from None
        if not v >= low:  # also refuses NaN
            raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}")
        return v
    return parse


_positive_int = _at_least(int, 1, "a positive int")
_non_negative_int = _at_least(int, 0, "an int >= 0")
_non_negative_float = _at_least(float, 0, "a number >= 0")


def _fraction(text):
    v = _non_negative_float(text)
    if v >= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return v


def _flag(setting: str) -> str:
    """The command-line spelling of a TrainConfig field ('model' and 'dataset' are the
    MODEL argument and --data; 'download' is --no-download)."""
    return {"model": "MODEL", "dataset": "--data", "download": "--no-download",
            "variant": "--variant",
            "global_batch_size": "--batch-size (x ranks with --distributed)",
            }.get(setting, "--" + setting.replace("_", "-"))


_MODEL_HELP = "a zoo model: " + ", ".join(list_models())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="minicnn", description="minicnn: train, evaluate, inspect and "
                     "gradient-check CNNs written from scratch on NumPy/CuPy.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("train", help="train a zoo model on a dataset",
                       description="Train MODEL on DATASET; writes metrics.json, curves.png "
                       "and checkpoints to --out.")
    p.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    p.add_argument("--variant", help="the model's variant, e.g. modern for lenet5")
    p.add_argument("--data", required=True, metavar="DATASET",
                   help=f"one of {', '.join(DATASET_CHOICES)}")
    p.add_argument("--epochs", type=_positive_int, default=10)
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--lr", type=_non_negative_float,
                   help="learning rate (default 0.01 for sgd, 0.001 for adam)")
    p.add_argument("--momentum", type=_non_negative_float, default=0.9)
    p.add_argument("--weight-decay", type=_non_negative_float, default=0.0)
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    p.add_argument("--schedule", metavar="SPEC",
                   help="step:EPOCHS:GAMMA | multistep:E1,E2:GAMMA | exp:GAMMA | cosine | "
                   "plateau[:PATIENCE] (stepped on the validation loss)")
    p.add_argument("--augment", action="store_true",
                   help="random shifts/crops, flips or small affine moves per dataset")
    p.add_argument("--val-split", type=_fraction, default=0.1,
                   help="fraction of the training set held out for validation")
    p.add_argument("--early-stopping", type=_positive_int, metavar="PATIENCE",
                   help="stop when the validation loss has not improved for PATIENCE epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="DIR", help="output directory (default runs/MODEL-DATA)")
    p.add_argument("--resume", metavar="DIR",
                   help="continue from DIR/checkpoint_last.npz (or a checkpoint file). "
                   "These must equal the run's (else a one-line error names the setting): "
                   + ", ".join(_flag(n) for n in RESUME_MUST_MATCH) + ". These may change: "
                   + ", ".join(_flag(n) for n in RESUME_MAY_CHANGE)
                   + " (a cosine schedule then continues on the new --epochs horizon)")
    p.add_argument("--limit", type=_positive_int, metavar="N",
                   help="use only the first N training and test images (quick runs)")
    p.add_argument("--no-download", action="store_true", help="never try the network")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over the ranks of mpiexec -n N (docs/distributed.md)")
    p.add_argument("--lr-warmup", type=_non_negative_float, metavar="EPOCHS",
                   help="with --distributed: scale --lr by the number of ranks (linear "
                        "scaling rule), ramping up over EPOCHS epochs")
    p.add_argument("--diagnostics", action="store_true",
                   help="record per-layer gradient norms, update/weight ratios and "
                   "activation statistics each epoch (diagnostics.json, diagnostics.png)")
    p.add_argument("--overfit", type=_positive_int, metavar="N",
                   help="train on the first N images only (no validation, no augmentation) "
                   "and report whether the model memorised them (100%% train accuracy)")
    _add_runtime(p)
    _add_progress(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint on a dataset's test split",
                       description="Evaluate CHECKPOINT on the test split of DATASET.")
    p.add_argument("checkpoint", metavar="CHECKPOINT")
    p.add_argument("--data", metavar="DATASET",
                   help="default: the dataset the checkpoint was trained on")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--batch-size", type=_positive_int, default=256)
    p.add_argument("--limit", type=_positive_int, metavar="N")
    p.add_argument("--no-download", action="store_true")
    _add_runtime(p)
    _add_progress(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("predict", help="top-5 classes of image files",
                       description="Print the top classes, with names and probabilities, of "
                       "each IMAGE (any format Pillow reads; resized to the model's input).")
    p.add_argument("checkpoint", metavar="CHECKPOINT")
    p.add_argument("images", metavar="IMAGE", nargs="+")
    p.add_argument("--top", type=_positive_int, default=5)
    p.add_argument("--invert", action="store_true",
                   help="invert grey levels (dark-on-light photos for MNIST-style models)")
    p.add_argument("--json", action="store_true")
    _add_runtime(p, device=False)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("summary", help="layer table of a zoo model",
                       description="Print each layer's output shape and parameter count.")
    p.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    p.add_argument("--variant")
    p.add_argument("--input-shape", metavar="C,H,W")
    p.add_argument("--num-classes", type=_positive_int,
                   help="default: the model's own (1000 for the ImageNet models)")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser(
        "gradcheck", help="finite-difference check of backward: ops, your function, a model",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compare analytic gradients (backward) with central differences in "
        "float64\nand print the relative error per input (minicnn.gradcheck's rule and "
        "threshold).\n\n"
        "  minicnn gradcheck all                      every op below\n"
        "  minicnn gradcheck conv2d                   one op\n"
        "  minicnn gradcheck my_layers.py:my_relu     your function of float64 Tensors;\n"
        "      inputs from my_relu_inputs() or function_inputs() in the same file,\n"
        "      or from --shape, once per input (--shape 2,3 --shape 3)\n"
        "  minicnn gradcheck lenet5 --localize        every node of a zoo model's graph;\n"
        "      names the first node whose backward is wrong",
        epilog="ops: " + ", ".join(gradcheck_suite.OPS))
    p.add_argument("target", nargs="?", default="all", metavar="OP|FILE.py:FUNCTION|MODEL",
                   help="an op (see the list below) or all; a function in your file; "
                   "a zoo model with --localize")
    p.add_argument("--shape", action="append", metavar="D1,D2,...",
                   help="the shape of one input of FILE.py:FUNCTION (repeat per input)")
    p.add_argument("--localize", action="store_true",
                   help="check every node of MODEL's graph (float64, batch 2)")
    p.add_argument("--input-shape", metavar="C,H,W",
                   help="with --localize: the image shape (default: the model's own)")
    p.add_argument("--variant", help="with --localize: the model's variant (lenet5: modern)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser("visualize", help="PNGs of filters, feature maps and saliency",
                       description="Print the prediction for one image and write PNGs: the "
                       "first convolution's filters, each layer's feature maps "
                       "(<layer>_features.png) and the saliency map (saliency.png).")
    p.add_argument("model", metavar="MODEL|CHECKPOINT",
                   help="a checkpoint file, or " + _MODEL_HELP + " (random weights)")
    p.add_argument("--image", metavar="PATH",
                   help="input image (default: the first test image of --class from the "
                   "checkpoint's dataset; scikit-learn's photo china.jpg for a zoo MODEL)")
    p.add_argument("--class", dest="class_index", type=_non_negative_int, default=0,
                   metavar="K", help="the class of the default dataset image (default 0)")
    p.add_argument("--target", type=_non_negative_int, metavar="K",
                   help="the class the saliency map explains (default: the predicted one)")
    p.add_argument("--shared-scale", action="store_true",
                   help="one colour scale per layer's feature maps (default: one per map)")
    p.add_argument("--out", metavar="DIR", required=True)
    p.add_argument("--variant")
    p.add_argument("--input-shape", metavar="C,H,W", help="for a zoo MODEL")
    p.add_argument("--num-classes", type=_positive_int,
                   help="default: the model's own (1000 for the ImageNet models)")
    p.add_argument("--invert", action="store_true")
    _add_runtime(p, device=False)
    p.set_defaults(func=cmd_visualize)

    _add_graph_parser(sub)
    _add_profile_parser(sub)
    _add_explain_parser(sub)

    p = sub.add_parser("bench", add_help=False, help="time ops and models against PyTorch",
                       description="The benchmark harness (minicnn.bench); "
                       "`minicnn bench --help` lists its options.")
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("info", help="versions, BLAS, backends, GPU and data paths",
                       description="Print minicnn's version, Python, NumPy and its BLAS, "
                       "numba, the active backend and which code runs each hot loop "
                       "(numba kernels or the NumPy reference), CuPy/CUDA/GPU, and the "
                       "data search path.")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="LeNet-5 on Fashion-MNIST in a few minutes",
                       description="Train LeNet-5 (modern) on Fashion-MNIST (scikit-learn's "
                       "digits if it is missing), print the test accuracy and a few "
                       "predictions, and write the curves PNG.")
    p.add_argument("--epochs", type=_positive_int, default=2)
    p.add_argument("--out", metavar="DIR", default=os.path.join("runs", "demo"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=_positive_int, metavar="N", help=argparse.SUPPRESS)
    _add_runtime(p, device=False)
    _add_progress(p)
    p.set_defaults(func=cmd_demo)

    exercise_cli.add_parser(sub)
    return parser


def _add_graph_parser(sub):
    p = sub.add_parser("graph", help="draw a zoo model's autograd graph (Graphviz)",
                       description="Run one training step of MODEL on random data and draw "
                       "its autograd graph: one box per Function (op, output shape, bytes "
                       "saved for backward, gradient norm), grouped by top-level module. "
                       "Writes FILE.dot always and FILE (.svg, .png, .pdf) when Graphviz's "
                       "dot is installed (apt-get install graphviz).")
    _add_model_on_random_data(p)
    p.add_argument("--out", metavar="FILE", required=True, help="graph.svg, .png, .pdf or .dot")
    p.add_argument("--timing", action="store_true",
                   help="add each node's forward and backward time")
    p.set_defaults(func=cmd_graph)


def _add_model_on_random_data(p):
    """The arguments of the commands that run a zoo model on a random batch."""
    p.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    p.add_argument("--input-shape", metavar="C,H,W", help="default: the model's own")
    p.add_argument("--batch-size", type=_positive_int, default=2,
                   help="2 by default: BatchNorm needs two values per channel in training")
    p.add_argument("--variant")
    p.add_argument("--num-classes", type=_positive_int, default=10)
    p.add_argument("--seed", type=int, default=0)


def _add_profile_parser(sub):
    p = sub.add_parser("profile", help="where a zoo model's training step spends its time",
                       description="Run one warm-up step and then --steps timed steps of "
                       "MODEL on random data (forward, cross-entropy, backward, SGD; or "
                       "with --eval a forward under no_grad), and print one row per op, and "
                       "for conv2d per path the kernel took (im2col, direct, winograd, "
                       "gemm 1x1, reference): calls, forward and backward ms, % of the "
                       "ops' time, GFLOP/s and % of NumPy's measured sgemm rate (conv2d "
                       "and linear), bytes saved for backward; then the peak "
                       "memory held for backward and the step time with and without the "
                       "profiler. --trace writes a Chrome trace (Perfetto, "
                       "chrome://tracing).")
    _add_model_on_random_data(p)
    p.add_argument("--steps", type=_positive_int, default=3,
                   help="timed steps, each run once without and once with the profiler")
    p.add_argument("--eval", action="store_true",
                   help="profile the eval forward (no_grad) instead of a training step")
    p.add_argument("--trace", metavar="FILE", help="write the Chrome trace JSON here")
    _add_runtime(p, device=False)
    p.set_defaults(func=cmd_profile)


def _add_explain_parser(sub):
    p = sub.add_parser("explain", help="an op's arithmetic, step by step, with pictures",
                       description="Print the output-size arithmetic of OP and write PNGs "
                       "to --out: for conv2d the receptive field of a few output pixels, "
                       "the im2col index map, the col2im overlap counts and the algorithm "
                       "the numba backend picks; for max_pool2d the windows and their "
                       "overlap; for batch_norm the per-channel statistics, training vs eval.")
    p.add_argument("op", choices=["conv2d", "max_pool2d", "batch_norm"], metavar="OP",
                   help="conv2d, max_pool2d or batch_norm")
    p.add_argument("--input", metavar="C,H,W", default="1,7,7",
                   help="one image's shape (default 1,7,7)")
    p.add_argument("--kernel", type=_pair_arg, metavar="K|KH,KW",
                   help="default 3 (conv2d), 2 (max_pool2d)")
    p.add_argument("--stride", type=_pair_arg, metavar="S|SH,SW",
                   help="default 1 (conv2d), the kernel (max_pool2d)")
    p.add_argument("--padding", type=_pair_arg, metavar="P|PH,PW", default=(0, 0))
    p.add_argument("--dilation", type=_pair_arg, metavar="D|DH,DW", default=(1, 1))
    p.add_argument("--groups", type=_positive_int, default=1)
    p.add_argument("--out-channels", type=_positive_int, metavar="OC",
                   help="conv2d's output channels (default: C)")
    p.add_argument("--batch", type=_positive_int, default=8, help="batch_norm's batch size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="DIR", help="write the PNGs here (default: print only)")
    p.set_defaults(func=cmd_explain)


def _version() -> str:
    from minicnn import __version__
    return f"minicnn {__version__}"


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    if isinstance(e, KeyError) and e.args:
        text = f"missing key {e.args[0]!r}"
    first = text.splitlines()[0] if text else type(e).__name__
    return first


def main(argv=None) -> int:
    """Run the command line; returns the exit status (errors are one line on stderr)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # the harness parses its own options (and its --help)
        return cmd_bench(argparse.Namespace(bench_args=argv[1:]))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error already printed
        return e.code if isinstance(e.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("minicnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `minicnn ... | head`: the reader left, nothing to report
        return 1
    except Exception as e:  # noqa: BLE001 - every failure becomes one line
        if os.environ.get("MINICNN_DEBUG"):
            raise
        print(f"minicnn {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 1
    finally:
        limits = getattr(args, "_thread_limits", None)
        if limits is not None:
            limits.restore()


if __name__ == "__main__":
    sys.exit(main())
