"""The ``minicnn`` command line (console script ``minicnn`` and ``python -m minicnn``).

    minicnn train lenet5 --variant modern --data fashion-mnist --epochs 3 --out runs/lenet
    minicnn eval runs/lenet/checkpoint_best.npz --data fashion-mnist --json
    minicnn predict runs/lenet/checkpoint_best.npz shirt.png
    minicnn summary resnet18 --input-shape 3,224,224
    minicnn gradcheck conv2d
    minicnn visualize runs/lenet/checkpoint_best.npz --out runs/lenet/pictures
    minicnn info
    minicnn demo
    minicnn exercise check conv_naive

Every command has ``--help``. A bad argument, a missing file or dataset, or a
failed run ends with ONE line on stderr and a non-zero exit status (2 for
usage errors, 1 for the rest); set MINICNN_DEBUG=1 to see the traceback.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time

from minicnn.tools import exercise_cli

__all__ = ["main", "build_parser", "build_model", "CommandError"]

DATASET_CHOICES = ("mnist", "fashion-mnist", "cifar10", "cifar100", "digits")


class CommandError(Exception):
    """An error the CLI reports as one line (exit status 1)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: 'minicnn train: error: ...'."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --------------------------------------------------------------------- models
def _model_names() -> list:
    from minicnn.zoo import list_models
    return list_models()


def resolve_model_name(name: str, variant: str | None = None):
    """(zoo key, variant) for ``name``, which may carry a variant ('lenet5-modern');
    an unknown name is a one-line error listing the choices."""
    from minicnn.zoo.registry import MODELS
    key = name.lower()
    for sep in ("-", ":"):
        base, _, suffix = key.partition(sep)
        if suffix and base in MODELS and key not in MODELS:
            key, variant = base, variant or suffix
    if key not in MODELS:
        raise CommandError(f"unknown model {name!r}; choose one of: "
                           f"{', '.join(_model_names())}")
    return key, variant


def build_model(name: str, num_classes: int | None, in_channels: int, input_size: int,
                variant: str | None = None):
    """A zoo model sized for the data: ``name`` may carry a variant, 'lenet5-modern'."""
    from minicnn.zoo import get_model
    from minicnn.zoo.registry import MODELS
    key, variant = resolve_model_name(name, variant)
    params = inspect.signature(MODELS[key]).parameters

    def accepts(argument):
        return argument in params

    kwargs = {"in_channels": in_channels}
    if num_classes is not None:  # None: the builder's own default (1000 for ImageNet)
        kwargs["num_classes"] = num_classes
    if accepts("input_size"):
        kwargs["input_size"] = input_size
    if accepts("cifar") and input_size <= 64:
        kwargs["cifar"] = True  # the small-image head (VGG on CIFAR)
    if variant is not None:
        if not accepts("variant"):
            raise CommandError(f"model {key!r} has no variants (got --variant {variant})")
        kwargs["variant"] = variant
    try:
        return get_model(key, **kwargs), key, variant
    except (ValueError, TypeError) as e:
        raise CommandError(f"cannot build {key} for {in_channels}x{input_size}x{input_size} "
                           f"inputs: {e}") from None


# ----------------------------------------------------------------------- data
def _augmentation(dataset: str, image_shape):
    """The augmentation recipe of each dataset (applied before normalisation)."""
    from minicnn.data import transforms as T
    H = image_shape[1]
    if dataset in ("cifar10", "cifar100"):
        return [T.RandomCrop(H, padding=4), T.RandomHorizontalFlip()]
    if dataset == "fashion-mnist":
        return [T.RandomShift(1), T.RandomHorizontalFlip()]
    if dataset == "mnist":
        return [T.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5)]
    return [T.RandomShift(1)]  # digits: 8x8, a one-pixel shift


def _load_data(name: str, download: bool = True):
    from minicnn.data import load_dataset
    if name not in DATASET_CHOICES and name.replace("_", "-") not in DATASET_CHOICES:
        raise CommandError(f"unknown dataset {name!r}; choose one of: "
                           f"{', '.join(DATASET_CHOICES)}")
    return load_dataset(name, download=download)


def _subset(images, labels, limit):
    if limit is None:
        return images, labels
    return images[:limit], labels[:limit]


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


def _parse_schedule(spec: str | None, optimizer, epochs: int):
    """'step:EPOCHS:GAMMA' | 'multistep:E1,E2:GAMMA' | 'exp:GAMMA' | 'plateau[:PATIENCE]'."""
    from minicnn.optim import lr_scheduler
    if not spec:
        return None
    parts = spec.split(":")
    kind = parts[0].lower()
    try:
        if kind == "step" and len(parts) == 3:
            return lr_scheduler.StepLR(optimizer, step_size=int(parts[1]),
                                       gamma=float(parts[2]))
        if kind == "multistep" and len(parts) == 3:
            milestones = [int(m) for m in parts[1].split(",")]
            return lr_scheduler.MultiStepLR(optimizer, milestones=milestones,
                                            gamma=float(parts[2]))
        if kind in ("exp", "exponential") and len(parts) == 2:
            return lr_scheduler.ExponentialLR(optimizer, gamma=float(parts[1]))
        if kind == "plateau" and len(parts) <= 2:
            patience = int(parts[1]) if len(parts) == 2 else 2
            return lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=patience)
        if kind == "cosine" and len(parts) == 1:
            return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    except ValueError as e:
        raise CommandError(f"bad --schedule {spec!r}: {e}") from None
    raise CommandError(f"bad --schedule {spec!r}; use step:EPOCHS:GAMMA, "
                       "multistep:E1,E2:GAMMA, exp:GAMMA, cosine or plateau[:PATIENCE]")


def _make_optimizer(args, params):
    from minicnn import optim
    lr = args.lr
    if args.optimizer == "sgd":
        return optim.SGD(params, lr=0.01 if lr is None else lr, momentum=args.momentum,
                         weight_decay=args.weight_decay)
    return optim.Adam(params, lr=1e-3 if lr is None else lr, weight_decay=args.weight_decay)


# ---------------------------------------------------------------------- train
def _progress_flag(args):
    if getattr(args, "progress", None) is not None:
        return args.progress
    return None  # tqdm only when stderr is a terminal


def cmd_train(args) -> int:
    import minicnn
    from minicnn.data import ArrayDataset, DataLoader, channel_stats, train_val_split
    from minicnn.data import transforms as T
    from minicnn.train import Trainer, load_checkpoint

    resolve_model_name(args.model, args.variant)  # an unknown model fails before any data
    device = _setup_backend(args)
    ckpt = None
    if args.resume:
        ckpt = load_checkpoint(args.resume)
        saved = ckpt["config"]
        if saved.get("model") and args.model.lower() not in (saved["model"],
                                                             saved.get("model_arg")):
            raise CommandError(f"--resume {args.resume} holds a {saved['model']} checkpoint, "
                               f"not {args.model}")
    ds = _load_data(args.data, download=not args.no_download)
    if getattr(args, "announce", None):
        args.announce(ds)
    minicnn.manual_seed(args.seed)
    images, labels = _subset(ds.train_images, ds.train_labels, args.limit)
    train_set, val_set = train_val_split(images, labels, args.val_split, seed=args.seed,
                                         classes=ds.classes)
    mean, std = channel_stats(train_set.images)  # from the training split only
    C, H, W = ds.image_shape
    model, key, variant = build_model(args.model, ds.num_classes, C, H, args.variant)
    if device == "cuda":
        model.to("cuda")
    optimizer = _make_optimizer(args, model.parameters())
    scheduler = _parse_schedule(args.schedule, optimizer, args.epochs)
    normalize = T.Normalize(mean, std)
    augment = _augmentation(ds.name, ds.image_shape) if args.augment else []
    train_loader = DataLoader(train_set, args.batch_size, shuffle=True, seed=args.seed,
                              transform=T.Compose(augment + [normalize]), device=device)
    val_loader = None
    if val_set is not None:
        val_loader = DataLoader(val_set, 256, transform=normalize, device=device)
    test_images, test_labels = _subset(ds.test_images, ds.test_labels, args.limit)
    test_loader = DataLoader(ArrayDataset(test_images, test_labels), 256,
                             transform=normalize, device=device)
    out = args.out or os.path.join("runs", f"{key}-{ds.name}")
    config = {
        "model": key, "model_arg": args.model.lower(), "variant": variant,
        "dataset": ds.name, "num_classes": ds.num_classes, "in_channels": C,
        "input_size": H, "classes": list(ds.classes),
        "mean": [float(v) for v in mean], "std": [float(v) for v in std],
        "optimizer": args.optimizer, "lr": float(optimizer.param_groups[0]["lr"]),
        "momentum": args.momentum, "weight_decay": args.weight_decay,
        "batch_size": args.batch_size, "schedule": args.schedule, "augment": args.augment,
        "val_split": args.val_split, "seed": args.seed, "limit": args.limit,
        "backend": minicnn.get_backend(),
        "title": f"{key}{'-' + variant if variant else ''} on {ds.name}",
    }
    trainer = Trainer(model, optimizer, scheduler=scheduler, out_dir=out,
                      early_stopping=args.early_stopping, progress=_progress_flag(args),
                      log=print, config=config)
    if ckpt is not None:
        trainer.load_state_dict(ckpt, train_loader)
        print(f"resuming {args.resume} after epoch {trainer.epoch}")
    print(f"training {config['title']}: {len(train_set)} train, "
          f"{len(val_set) if val_set else 0} validation, {len(test_labels)} test images, "
          f"{model.num_parameters():,} parameters, backend {config['backend']}, "
          f"writing to {out}")
    start = time.perf_counter()
    trainer.fit(train_loader, val_loader, args.epochs)
    metrics = trainer.test(test_loader)
    print(f"test loss {metrics['test_loss']:.4f}  test accuracy "
          f"{metrics['test_accuracy']:.4f}  top-5 {metrics['test_top5_accuracy']:.4f}  "
          f"({time.perf_counter() - start:.0f}s)")
    print(f"wrote {os.path.join(out, 'metrics.json')}, {os.path.join(out, 'curves.png')} "
          f"and checkpoints in {out}")
    args._result = (trainer, test_loader, ds, metrics)
    return 0


# ------------------------------------------------------------ checkpoints
def _model_from_checkpoint(path: str):
    from minicnn.train import load_checkpoint
    ckpt = load_checkpoint(path)
    cfg = ckpt["config"]
    model, _, _ = build_model(cfg["model"], int(cfg["num_classes"]), int(cfg["in_channels"]),
                              int(cfg["input_size"]), cfg.get("variant"))
    try:
        model.load_state_dict(ckpt["model"])
    except (ValueError, KeyError) as e:
        raise CommandError(f"checkpoint {path} does not fit model {cfg['model']}: "
                           f"{str(e).splitlines()[0]}") from None
    model.eval()
    return model, cfg


def cmd_eval(args) -> int:
    from minicnn.data import ArrayDataset, DataLoader
    from minicnn.data import transforms as T
    from minicnn.train import evaluate

    device = _setup_backend(args)
    model, cfg = _model_from_checkpoint(args.checkpoint)
    if device == "cuda":
        model.to("cuda")
    ds = _load_data(args.data or cfg["dataset"], download=not args.no_download)
    if ds.image_shape != (cfg["in_channels"], cfg["input_size"], cfg["input_size"]) or \
            ds.num_classes != cfg["num_classes"]:
        raise CommandError(f"{ds.name} images are {ds.image_shape} with {ds.num_classes} "
                           f"classes, but the checkpoint was trained on {cfg['dataset']} "
                           f"({cfg['in_channels']}, {cfg['input_size']}, {cfg['input_size']}) "
                           f"with {cfg['num_classes']} classes")
    images, labels = _subset(ds.test_images, ds.test_labels, args.limit)
    loader = DataLoader(ArrayDataset(images, labels), args.batch_size,
                        transform=T.Normalize(cfg["mean"], cfg["std"]), device=device)
    result = evaluate(model, loader, progress=_progress_flag(args), desc="eval")
    metrics = {"checkpoint": args.checkpoint, "dataset": ds.name, "split": "test",
               "test_loss": result["loss"], "test_accuracy": result["accuracy"],
               "test_top5_accuracy": result["top5_accuracy"], "count": result["count"]}
    if args.json:
        print(json.dumps(metrics, indent=2))
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
    import minicnn.functional as F
    from minicnn.data import transforms as T

    _setup_backend(args)
    model, cfg = _model_from_checkpoint(args.checkpoint)
    C, S = int(cfg["in_channels"]), int(cfg["input_size"])
    batch = numpy.stack([_read_image(p, C, S, args.invert) for p in args.images])
    x = T.Normalize(cfg["mean"], cfg["std"])(batch)
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
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        print(r["image"])
        for rank, t in enumerate(r["top"], start=1):
            print(f"  {rank}. {t['name']:<16} {t['probability']:.4f}")
    return 0


# -------------------------------------------------------------------- summary
def _parse_shape(text: str) -> tuple:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise CommandError(f"bad --input-shape {text!r}; expected C,H,W such as 3,32,32") \
            from None
    if len(shape) != 3 or min(shape) < 1:
        raise CommandError(f"bad --input-shape {text!r}; expected three positive ints C,H,W")
    return shape


def cmd_summary(args) -> int:
    from minicnn.tools.summary import summary
    C, H, W = _parse_shape(args.input_shape) if args.input_shape else (None, None, None)
    if C is None:
        C, H, W = _default_shape(args.model)
    if H != W:
        raise CommandError(f"--input-shape {args.input_shape}: the zoo builds square inputs")
    model, key, variant = build_model(args.model, args.num_classes, C, H, args.variant)
    summary(model, (C, H, W), model_name=f"{key}{'-' + variant if variant else ''}")
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
    from minicnn.tools.gradcheck_suite import OPS, format_table, run_suite
    names = list(OPS) if args.op in (None, "all") else [args.op]
    for name in names:
        if name not in OPS:
            raise CommandError(f"unknown op {name!r}; choose one of: all, {', '.join(OPS)}")
    rows = run_suite(names, seed=args.seed)
    print(format_table(rows))
    failed = [r for r in rows if not r["passed"]]
    if failed:
        print(f"{len(failed)} of {len(rows)} checks failed: "
              f"{', '.join(r['op'] + '/' + r['input'] for r in failed)}", file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------ visualize
def cmd_visualize(args) -> int:
    from minicnn.tools.visualize import visualize

    _setup_backend(args)
    if os.path.isfile(args.model):
        model, cfg = _model_from_checkpoint(args.model)
        C, S = int(cfg["in_channels"]), int(cfg["input_size"])
        mean, std = cfg["mean"], cfg["std"]
    else:
        if args.model.lower().endswith(".npz") or os.sep in args.model:
            raise CommandError(f"checkpoint {args.model} does not exist")
        C, S, _ = _default_shape(args.model)
        if args.input_shape:
            C, S, _ = _parse_shape(args.input_shape)
        model, _, _ = build_model(args.model, args.num_classes, C, S, args.variant)
        model.eval()
        mean, std = [0.5] * C, [0.25] * C
    image = _read_image(args.image, C, S, args.invert) if args.image else None
    written = visualize(model, args.out, image=image, mean=mean, std=std,
                        input_shape=(C, S, S))
    for path in written:
        print(path)
    return 0


# ----------------------------------------------------------------------- info
def cmd_info(args) -> int:
    import minicnn
    if hasattr(minicnn, "info") and callable(minicnn.tools.info):
        result = minicnn.info()
        if isinstance(result, str):
            print(result)
        return 0
    import numpy

    from minicnn.backend import _numba_available, cupy_module
    print(f"minicnn {minicnn.__version__}")
    print(f"python {sys.version.split()[0]}, numpy {numpy.__version__}")
    print(f"backend: {minicnn.get_backend()} (numba {'yes' if _numba_available() else 'no'}, "
          f"cupy {'yes' if cupy_module() is not None else 'no'})")
    from minicnn.data.datasets import search_roots
    print(f"data search path: {', '.join(search_roots())}")
    return 0


# ----------------------------------------------------------------------- demo
def cmd_demo(args) -> int:
    import numpy

    import minicnn
    import minicnn.functional as F
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
    trainer, test_loader, ds, metrics = train_args._result
    x, y = next(iter(test_loader))
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="minicnn", description="minicnn: train, evaluate, inspect and "
                     "gradient-check CNNs written from scratch on NumPy/CuPy.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("train", help="train a zoo model on a dataset",
                       description="Train MODEL on DATASET; writes metrics.json, curves.png "
                       "and checkpoints to --out.")
    p.add_argument("model", metavar="MODEL",
                   help="a zoo model (minicnn summary --help lists them), e.g. lenet5")
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
                   help="continue from DIR/checkpoint_last.npz (or a checkpoint file)")
    p.add_argument("--limit", type=_positive_int, metavar="N",
                   help="use only the first N training and test images (quick runs)")
    p.add_argument("--no-download", action="store_true", help="never try the network")
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
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--variant")
    p.add_argument("--input-shape", metavar="C,H,W")
    p.add_argument("--num-classes", type=_positive_int,
                   help="default: the model's own (1000 for the ImageNet models)")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("gradcheck", help="finite-difference check of every op's backward",
                       description="Compare each op's analytic gradient with central "
                       "differences in float64 and print CS231n's relative error per input.")
    p.add_argument("op", nargs="?", default="all", metavar="OP", help="an op name, or all")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser("visualize", help="PNGs of first-layer filters and feature maps",
                       description="Write PNG grids of the first convolution's filters and "
                       "of each layer's feature maps for one image.")
    p.add_argument("model", metavar="MODEL|CHECKPOINT")
    p.add_argument("--image", metavar="PATH",
                   help="input image (default: scikit-learn's sample photo china.jpg)")
    p.add_argument("--out", metavar="DIR", required=True)
    p.add_argument("--variant")
    p.add_argument("--input-shape", metavar="C,H,W", help="for a zoo MODEL")
    p.add_argument("--num-classes", type=_positive_int,
                   help="default: the model's own (1000 for the ImageNet models)")
    p.add_argument("--invert", action="store_true")
    _add_runtime(p, device=False)
    p.set_defaults(func=cmd_visualize)

    p = sub.add_parser("bench", add_help=False, help="time ops and models against PyTorch",
                       description="The benchmark harness (minicnn.bench); "
                       "`minicnn bench --help` lists its options.")
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("info", help="versions, backends and data paths",
                       description="Print minicnn's version, backends and data search path.")
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
