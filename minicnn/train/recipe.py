"""The training recipe in one place: ``TrainConfig`` and ``fit(config)``.

    from minicnn.train import TrainConfig, fit
    result = fit(TrainConfig(model="lenet5", variant="modern", data="digits", epochs=1,
                             limit=200, out="runs/quick", progress=False))
    result.metrics["test_accuracy"]

``fit`` is what ``minicnn train`` runs: load the dataset, hold out a seeded
validation split, normalise with the training split's per-channel mean and std,
build the zoo model for the data's shape and classes, the optimizer and the
learning-rate schedule, wire the ``Trainer`` (resuming when asked), train,
and evaluate on the test split. The command line only parses its arguments
into a ``TrainConfig`` (``TrainConfig.from_args``) and prints.

The pieces are public so that ``eval``, ``predict``, a tutorial or a
data-parallel driver can build the same model and data the same way:
``build_model``, ``load_data``, ``make_loaders``, ``make_optimizer``,
``make_scheduler``, ``model_from_checkpoint``.

Resume rules (``config.resume``): the settings that define the run (model,
variant, dataset, val_split, seed, limit, optimizer, lr, momentum,
weight_decay, batch_size, schedule, augment) must equal the checkpoint's,
else a one-line ``ConfigError`` names the setting and both values; ``epochs``,
``early_stopping``, ``out``, ``progress``, ``device``, ``download`` (and the
CLI's ``--backend``/``--threads``) may change. A schedule whose shape depends
on ``epochs`` (cosine) continues on the new horizon, and says so in one line.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy

from minicnn import optim, rng
from minicnn.backend import get_backend
from minicnn.data import (
    ArrayDataset,
    DataLoader,
    channel_stats,
    load_dataset,
    train_val_split,
)
from minicnn.data import transforms as T
from minicnn.nn.module import StateDictError
from minicnn.optim import lr_scheduler
from minicnn.train.diagnostics import Diagnostics
from minicnn.train.trainer import Trainer, evaluate, load_checkpoint
from minicnn.zoo import get_model, list_models
from minicnn.zoo.registry import MODELS

__all__ = ["TrainConfig", "TrainResult", "ConfigError", "fit", "build_model",
           "resolve_model_name", "load_data", "make_loaders", "make_optimizer",
           "make_scheduler", "model_from_checkpoint", "check_resume", "DATASET_CHOICES",
           "RESUME_MUST_MATCH", "RESUME_MAY_CHANGE"]

DATASET_CHOICES = ("mnist", "fashion-mnist", "cifar10", "cifar100", "digits")

# The settings a resumed run must share with its checkpoint (they define the run:
# the data it sees, the model, and the optimisation path), and those that may change.
RESUME_MUST_MATCH = ("model", "variant", "dataset", "val_split", "seed", "limit",
                     "optimizer", "lr", "momentum", "weight_decay", "global_batch_size",
                     "schedule", "augment")
# global_batch_size = batch_size x the number of ranks (1 without --distributed): a
# data-parallel run may resume on another number of ranks with the same global batch.
_FLAGS = {"global_batch_size": "--batch-size x ranks"}
RESUME_MAY_CHANGE = ("epochs", "early_stopping", "out", "progress", "device", "download",
                     "backend", "threads")

# What a checkpoint's config may ask a model to be (eval/predict build it before
# loading the weights): beyond these, the file is refused rather than obeyed.
MAX_CLASSES = 100_000
MAX_CHANNELS = 64
MAX_INPUT_SIZE = 1024


class ConfigError(ValueError):
    """A training setting is invalid, or conflicts with the checkpoint being resumed."""


@dataclass
class TrainConfig:
    """Everything one training run needs (the fields of ``minicnn train``).

    Args:
        model: a zoo model name (``minicnn.zoo.list_models()``); may carry the
            variant, 'lenet5-modern'.
        data: mnist, fashion-mnist, cifar10, cifar100 or digits.
        variant: the model's variant (e.g. 'modern' for lenet5), or None.
        epochs: train until this many epochs are complete (a resumed run counts
            the epochs already done).
        batch_size: training mini-batch size.
        lr: learning rate; None means 0.01 for sgd, 0.001 for adam.
        momentum: SGD momentum (ignored by adam).
        weight_decay: L2 penalty added to the gradient (PyTorch's ``weight_decay``).
        optimizer: 'sgd' or 'adam'.
        schedule: the learning-rate schedule: 'step:EPOCHS:GAMMA',
            'multistep:E1,E2:GAMMA', 'exp:GAMMA', 'cosine' (over ``epochs``),
            'plateau[:PATIENCE]' (halves the rate on the validation loss), or None.
        augment: per-dataset random shifts/crops, flips or small affine moves.
        val_split: fraction of the training images held out for validation.
        early_stopping: stop after this many epochs without a better validation
            loss (None: never).
        seed: seeds the model's initial weights, dropout, the split, the
            shuffling and the augmentation.
        out: output directory (None: runs/MODEL-DATA).
        resume: a run directory or checkpoint file to continue from.
        limit: use only the first N training and N test images.
        download: may the dataset be downloaded when no copy is found.
        device: 'cpu' or 'cuda' (where the arrays live).
        progress: tqdm bars; None shows them only when stderr is a terminal.
        overfit: train on only the first N training images, with no validation
            split and no augmentation, then report whether the model reached
            100 % accuracy on them (the memorisation sanity check).
        diagnostics: record per-layer gradient norms, update/weight ratios and
            activation statistics each epoch (diagnostics.json and .png in ``out``).
    """
    model: str
    data: str
    variant: str | None = None
    epochs: int = 10
    batch_size: int = 64
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    optimizer: str = "sgd"
    schedule: str | None = None
    augment: bool = False
    val_split: float = 0.1
    early_stopping: int | None = None
    seed: int = 0
    out: str | None = None
    resume: str | None = None
    limit: int | None = None
    download: bool = True
    device: str = "cpu"
    progress: bool | None = None
    overfit: int | None = None
    diagnostics: bool = False

    @classmethod
    def from_args(cls, args) -> "TrainConfig":
        """The config of a parsed ``minicnn train`` command line (an argparse Namespace)."""
        values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
                  if hasattr(args, f.name)}
        if hasattr(args, "no_download"):
            values["download"] = not args.no_download
        return cls(**values)

    def validate(self) -> None:
        """Check every field before any data or model is touched (ConfigError)."""
        def bad(name, expected):
            value = getattr(self, name)
            raise ConfigError(f"TrainConfig.{name}: expected {expected}, got {value!r}")

        for name in ("epochs", "batch_size"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                bad(name, "a positive int")
        for name in ("early_stopping", "limit", "overfit"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                bad(name, "a positive int or None")
        for name in ("momentum", "weight_decay"):
            if not _finite_at_least(getattr(self, name), 0):
                bad(name, "a finite number >= 0")
        if self.lr is not None and not _finite_at_least(self.lr, 0):
            bad("lr", "a finite number >= 0 or None")
        if not _finite_at_least(self.val_split, 0) or self.val_split >= 1:
            bad("val_split", "a fraction in [0, 1)")
        if self.optimizer not in ("sgd", "adam"):
            bad("optimizer", "'sgd' or 'adam'")
        if self.device not in ("cpu", "cuda"):
            bad("device", "'cpu' or 'cuda'")
        if not _is_int(self.seed):
            bad("seed", "an int")
        _canonical_dataset(self.data)
        resolve_model_name(self.model, self.variant)
        _parse_schedule(self.schedule)  # syntax only; the optimizer comes later


@dataclass
class TrainResult:
    """What ``fit`` returns: the trained Trainer, the test metrics and the data used."""
    trainer: Trainer
    metrics: dict
    dataset: object                 # the DatasetArrays
    test_loader: DataLoader
    out: str
    notes: list = field(default_factory=list)  # one-line remarks (e.g. a horizon change)


def _is_int(value) -> bool:
    return isinstance(value, (int, numpy.integer)) and not isinstance(value, bool)


def _finite_at_least(value, low) -> bool:
    return (isinstance(value, (int, float, numpy.number)) and not isinstance(value, bool)
            and math.isfinite(value) and value >= low)


# --------------------------------------------------------------------- models
def resolve_model_name(name: str, variant: str | None = None):
    """(zoo key, variant) for ``name``, which may carry a variant ('lenet5-modern');
    an unknown name is a one-line error listing the choices."""
    key = str(name).lower()
    for sep in ("-", ":"):
        base, _, suffix = key.partition(sep)
        if suffix and base in MODELS and key not in MODELS:
            key, variant = base, variant or suffix
    if key not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    return key, variant


def build_model(name: str, num_classes: int | None, in_channels: int, input_size: int,
                variant: str | None = None):
    """A zoo model sized for the data; returns ``(model, zoo key, variant)``.

    ``name`` may carry a variant, 'lenet5-modern'; ``num_classes`` None keeps
    the builder's own default (1000 for the ImageNet models).
    """
    key, variant = resolve_model_name(name, variant)
    params = inspect.signature(MODELS[key]).parameters
    kwargs = {"in_channels": in_channels}
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if "input_size" in params:
        kwargs["input_size"] = input_size
    if "cifar" in params and input_size <= 64:
        kwargs["cifar"] = True  # the small-image head (VGG on CIFAR)
    if variant is not None:
        if "variant" not in params:
            raise ConfigError(f"model {key!r} has no variants (got variant {variant!r})")
        kwargs["variant"] = variant
    try:
        return get_model(key, **kwargs), key, variant
    except (ValueError, TypeError) as e:
        raise ConfigError(f"cannot build {key} for {in_channels}x{input_size}x{input_size} "
                          f"inputs: {e}") from None


def _checked_int(cfg: dict, name: str, low: int, high: int, path: str) -> int:
    value = cfg.get(name)
    if not _is_int(value) or not low <= value <= high:
        raise ConfigError(f"checkpoint {path}: config field {name!r} must be an int in "
                          f"[{low}, {high}], got {value!r:.60}")
    return int(value)


def _checked_floats(cfg: dict, name: str, count: int, path: str) -> list:
    value = cfg.get(name)
    if not isinstance(value, list) or len(value) != count or not all(
            _finite_at_least(v, -math.inf) for v in value):
        raise ConfigError(f"checkpoint {path}: config field {name!r} must be a list of "
                          f"{count} finite numbers, got {value!r:.60}")
    return [float(v) for v in value]


def checkpoint_model_config(ckpt: dict, path: str) -> dict:
    """The checkpoint's model and normalisation settings, each checked for type and
    sane bounds before anything is built from them (a crafted file cannot make
    eval or predict allocate whatever it asks)."""
    cfg = ckpt.get("config")
    if not isinstance(cfg, dict):
        raise ConfigError(f"checkpoint {path}: field 'config' must be a dict, got "
                          f"{type(cfg).__name__}")
    checked = dict(cfg)
    if not isinstance(cfg.get("model"), str):
        raise ConfigError(f"checkpoint {path}: config field 'model' must be a model name, "
                          f"got {cfg.get('model')!r:.60}")
    if cfg.get("variant") is not None and not isinstance(cfg["variant"], str):
        raise ConfigError(f"checkpoint {path}: config field 'variant' must be a string or "
                          f"null, got {cfg['variant']!r:.60}")
    checked["num_classes"] = _checked_int(cfg, "num_classes", 1, MAX_CLASSES, path)
    checked["in_channels"] = _checked_int(cfg, "in_channels", 1, MAX_CHANNELS, path)
    checked["input_size"] = _checked_int(cfg, "input_size", 1, MAX_INPUT_SIZE, path)
    checked["mean"] = _checked_floats(cfg, "mean", checked["in_channels"], path)
    checked["std"] = _checked_floats(cfg, "std", checked["in_channels"], path)
    classes = cfg.get("classes")
    if not isinstance(classes, list) or len(classes) != checked["num_classes"] or not all(
            isinstance(c, str) for c in classes):
        raise ConfigError(f"checkpoint {path}: config field 'classes' must be a list of "
                          f"{checked['num_classes']} class names, got {classes!r:.60}")
    return checked


def model_from_checkpoint(path: str, device: str = "cpu"):
    """The model a training checkpoint holds, in eval mode; returns ``(model, config)``.

    The config's sizes are checked against sane bounds before the model is
    built, and a model/weights mismatch names the first few missing,
    unexpected and mis-shaped keys.
    """
    ckpt = load_checkpoint(path)
    cfg = checkpoint_model_config(ckpt, path)
    model, _, _ = build_model(cfg["model"], cfg["num_classes"], cfg["in_channels"],
                              cfg["input_size"], cfg.get("variant"))
    if not isinstance(ckpt.get("model"), dict):
        raise ConfigError(f"checkpoint {path}: field 'model' must be a state dict, got "
                          f"{type(ckpt.get('model')).__name__}")
    try:
        model.load_state_dict(ckpt["model"])
    except StateDictError as e:
        raise ConfigError(f"checkpoint {path} does not fit model {cfg['model']}: "
                          f"{describe_state_dict_error(e)}") from None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"checkpoint {path} does not fit model {cfg['model']}: "
                          f"{str(e).splitlines()[0]}") from None
    if device == "cuda":
        model.to("cuda")
    model.eval()
    return model, cfg


def describe_state_dict_error(e, first: int = 3) -> str:
    """One line listing the first few missing, unexpected and mis-shaped keys."""
    def few(keys):
        shown = ", ".join(repr(k) for k in keys[:first])
        return shown + (f" (+{len(keys) - first} more)" if len(keys) > first else "")
    parts = []
    if e.missing_keys:
        parts.append(f"missing keys {few(e.missing_keys)}")
    if e.unexpected_keys:
        parts.append(f"unexpected keys {few(e.unexpected_keys)}")
    if e.mismatched:
        shapes = [f"{k!r} model {tuple(a)} vs file {tuple(b)}" for k, a, b in e.mismatched]
        parts.append(f"mis-shaped {few(shapes)}".replace('"', ""))
    return "; ".join(parts)


# ----------------------------------------------------------------------- data
def _canonical_dataset(name: str) -> str:
    key = str(name).lower().replace("_", "-")
    key = {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10",
           "cifar-100": "cifar100"}.get(key, key)
    if key not in DATASET_CHOICES:
        raise ConfigError(f"unknown dataset {name!r}; choose one of: "
                          f"{', '.join(DATASET_CHOICES)}")
    return key


def load_data(name: str, download: bool = True):
    """The dataset ``name`` as a DatasetArrays (a one-line error for an unknown name)."""
    return load_dataset(_canonical_dataset(name), download=download)


def augmentation(dataset: str, image_shape) -> list:
    """The augmentation recipe of each dataset (applied before normalisation)."""
    H = image_shape[1]
    if dataset in ("cifar10", "cifar100"):
        return [T.RandomCrop(H, padding=4), T.RandomHorizontalFlip()]
    if dataset == "fashion-mnist":
        return [T.RandomShift(1), T.RandomHorizontalFlip()]
    if dataset == "mnist":
        return [T.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5)]
    return [T.RandomShift(1)]  # digits: 8x8, a one-pixel shift


def _first(images, labels, limit):
    if limit is None:
        return images, labels
    return images[:limit], labels[:limit]


def test_loader(ds, mean, std, limit=None, batch_size: int = 256, device: str = "cpu"):
    """The test split of ``ds`` (its first ``limit`` images), normalised by (mean, std)."""
    images, labels = _first(ds.test_images, ds.test_labels, limit)
    return DataLoader(ArrayDataset(images, labels), batch_size,
                      transform=T.Normalize(mean, std), device=device)


test_loader.__test__ = False  # a factory, not a pytest test


def make_loaders(config: TrainConfig, ds):
    """(train_loader, val_loader or None, test_loader, mean, std) for ``config``.

    The split is seeded by ``config.seed``; the normalisation statistics come
    from the training split only.
    """
    images, labels = _first(ds.train_images, ds.train_labels, config.limit)
    train_set, val_set = train_val_split(images, labels, config.val_split, seed=config.seed,
                                         classes=ds.classes)
    mean, std = channel_stats(train_set.images)
    normalize = T.Normalize(mean, std)
    augment = augmentation(ds.name, ds.image_shape) if config.augment else []
    train = DataLoader(train_set, config.batch_size, shuffle=True, seed=config.seed,
                       transform=T.Compose(augment + [normalize]), device=config.device)
    val = None
    if val_set is not None:
        val = DataLoader(val_set, 256, transform=normalize, device=config.device)
    test = test_loader(ds, mean, std, config.limit, device=config.device)
    return train, val, test, mean, std


# ------------------------------------------------------------------ optimizer
def make_optimizer(config: TrainConfig, params):
    """SGD (lr 0.01 by default) or Adam (lr 0.001 by default) over ``params``."""
    lr = config.lr
    if config.optimizer == "sgd":
        return optim.SGD(params, lr=0.01 if lr is None else lr, momentum=config.momentum,
                         weight_decay=config.weight_decay)
    return optim.Adam(params, lr=1e-3 if lr is None else lr, weight_decay=config.weight_decay)


_SCHEDULE_HELP = ("use step:EPOCHS:GAMMA, multistep:E1,E2:GAMMA, exp:GAMMA, cosine or "
                  "plateau[:PATIENCE]")


def _parse_schedule(spec: str | None):
    """'step:3:0.5' -> ('step', {...}); None for no schedule. ConfigError when bad."""
    if not spec:
        return None
    parts = str(spec).split(":")
    kind = parts[0].lower()

    def bad(why):
        raise ConfigError(f"bad --schedule {spec!r} (TrainConfig.schedule): {why}; "
                          f"{_SCHEDULE_HELP}")

    def gamma(text):
        try:
            value = float(text)
        except ValueError:
            bad(f"GAMMA {text!r} is not a number")
        if not (math.isfinite(value) and value > 0):
            bad(f"GAMMA must be a finite number > 0, got {text}")
        return value

    def count(text, what, low):
        try:
            value = int(text)
        except ValueError:
            bad(f"{what} {text!r} is not an int")
        if value < low:
            bad(f"{what} must be >= {low}, got {value}")
        return value

    if kind == "step" and len(parts) == 3:
        return "step", {"step_size": count(parts[1], "EPOCHS", 1), "gamma": gamma(parts[2])}
    if kind == "multistep" and len(parts) == 3:
        milestones = [count(m, "milestone", 1) for m in parts[1].split(",")]
        return "multistep", {"milestones": milestones, "gamma": gamma(parts[2])}
    if kind in ("exp", "exponential") and len(parts) == 2:
        return "exp", {"gamma": gamma(parts[1])}
    if kind == "plateau" and len(parts) <= 2:
        patience = count(parts[1], "PATIENCE", 0) if len(parts) == 2 else 2
        return "plateau", {"patience": patience}
    if kind == "cosine" and len(parts) == 1:
        return "cosine", {}
    bad("unknown form")


def make_scheduler(spec: str | None, optimizer, epochs: int):
    """The scheduler of ``spec`` (see TrainConfig.schedule); None for no schedule."""
    parsed = _parse_schedule(spec)
    if parsed is None:
        return None
    kind, kw = parsed
    if kind == "step":
        return lr_scheduler.StepLR(optimizer, **kw)
    if kind == "multistep":
        return lr_scheduler.MultiStepLR(optimizer, **kw)
    if kind == "exp":
        return lr_scheduler.ExponentialLR(optimizer, **kw)
    if kind == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, **kw)
    return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)


# --------------------------------------------------------------------- resume
def _run_settings(config: TrainConfig, key: str, variant, dataset: str,
                  world_size: int = 1) -> dict:
    """The RESUME_MUST_MATCH settings of ``config``, as a checkpoint records them."""
    return {"model": key, "variant": variant, "dataset": dataset,
            "val_split": config.val_split, "seed": config.seed, "limit": config.limit,
            "optimizer": config.optimizer,
            "lr": config.lr if config.lr is not None else
            (0.01 if config.optimizer == "sgd" else 1e-3),
            "momentum": config.momentum, "weight_decay": config.weight_decay,
            "batch_size": config.batch_size,
            "global_batch_size": config.batch_size * world_size,
            "schedule": config.schedule,
            "augment": config.augment}


def check_resume(saved: dict, wanted: dict, path: str) -> None:
    """Refuse a resume whose run-defining settings differ from the checkpoint's.

    One line names the first differing setting and both values.
    """
    if not isinstance(saved, dict):
        raise ConfigError(f"checkpoint {path}: field 'config' must be a dict, got "
                          f"{type(saved).__name__}")
    for name in RESUME_MUST_MATCH:
        if name not in saved:
            continue  # a checkpoint from before this setting was recorded
        mine, theirs = wanted[name], saved[name]
        if not _same(mine, theirs):
            flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
            raise ConfigError(f"cannot resume {path}: {name} (CLI {flag}) is {mine!r} but "
                              f"the run was started with {theirs!r}; resume with the same "
                              f"{name}, or start a new run in another --out")


def _same(a, b) -> bool:
    """Equal, numbers compared as numbers (0.9 == 0.9, 1 == 1.0; never True == 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def _continue_horizon(trainer: Trainer, epochs: int, log) -> str | None:
    """A cosine schedule built for another ``epochs`` continues on the new horizon."""
    scheduler = trainer.scheduler
    if not isinstance(scheduler, lr_scheduler.CosineAnnealingLR) or \
            scheduler.T_max == epochs:
        return None
    old = scheduler.T_max
    if epochs <= trainer.epoch:
        return None  # nothing left to train: the schedule is never stepped again
    scheduler.T_max = epochs
    t = scheduler.last_epoch
    for group, base_lr in zip(trainer.optimizer.param_groups, scheduler.base_lrs):
        group["lr"] = scheduler.eta_min + (base_lr - scheduler.eta_min) * (
            1 + math.cos(math.pi * t / epochs)) / 2
    scheduler._last_lr = [g["lr"] for g in trainer.optimizer.param_groups]
    note = (f"cosine schedule: horizon changed from {old} to {epochs} epochs; epoch {t + 1} "
            f"continues on the {epochs}-epoch cosine at lr "
            f"{trainer.optimizer.param_groups[0]['lr']:.4g}")
    if log is not None:
        log(note)
    return note


# ---------------------------------------------------------------- output dir
def check_out_dir(out: str) -> None:
    """Create ``out`` and prove it writable now, not after the first epoch."""
    try:
        os.makedirs(out, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".minicnn-write-test.", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"output directory {out} is not writable ({e.strerror or e}); "
                          "choose another --out") from None


# ------------------------------------------------------------------------ fit
def fit(config: TrainConfig, callbacks=(), log=print, distributed=None) -> TrainResult:
    """Run the training recipe ``config`` describes; returns a ``TrainResult``.

    Args:
        config: the TrainConfig (validated first: a bad field fails before any
            data is read).
        callbacks: objects handed to the Trainer; each may define any of
            ``on_fit_start(trainer)``, ``on_step_end(trainer, step, loss)``,
            ``on_epoch_end(trainer, entry)``, ``on_fit_end(trainer)``.
        log: one line at a time (default print; None: silent).
        distributed: a ``minicnn.distributed.DataParallelHook`` (made after
            ``minicnn.distributed.init()``) to train data-parallel: it wraps the
            model, gives each rank its shard of every loader and averages the
            gradients; only its writer rank (0) writes files. None: one process.

    Writes to ``config.out``: metrics.json, history.json, curves.png and the
    checkpoints (see ``Trainer``). The backend is whatever
    ``minicnn.set_backend`` chose; the CLI sets it from ``--backend``.
    """
    config.validate()
    say = log if log is not None else (lambda line: None)
    key, variant = resolve_model_name(config.model, config.variant)
    ckpt = load_checkpoint(config.resume) if config.resume else None
    ds = load_data(config.data, download=config.download)
    out = config.out or os.path.join("runs", f"{key}-{ds.name}")
    writer = distributed is None or distributed.is_writer
    if writer:
        check_out_dir(out)
    wanted = _run_settings(config, key, variant, ds.name,
                           distributed.world_size if distributed is not None else 1)
    if ckpt is not None:
        check_resume(ckpt.get("config"), wanted, config.resume)

    rng.manual_seed(config.seed)
    if config.overfit:  # the memorisation check: N images, no held-out split
        limit = config.overfit if config.limit is None else min(config.limit, config.overfit)
        train, val, test, mean, std = make_loaders(
            dataclasses.replace(config, limit=limit, val_split=0.0, augment=False), ds)
    else:
        train, val, test, mean, std = make_loaders(config, ds)
    C, H, W = ds.image_shape
    model, key, variant = build_model(config.model, ds.num_classes, C, H, variant)
    if config.device == "cuda":
        model.to("cuda")
    if distributed is not None:  # rank 0's weights on every rank, then each rank its shard
        model = distributed.wrap_model(model)
        train = distributed.shard(train)
        val = distributed.shard(val, train=False) if val is not None else None
        test = distributed.shard(test, train=False)
    optimizer = make_optimizer(config, model.parameters())
    scheduler = make_scheduler(config.schedule, optimizer, config.epochs)
    run_config = dict(wanted)
    run_config.update({
        "model_arg": str(config.model).lower(), "num_classes": ds.num_classes,
        "in_channels": C, "input_size": H, "classes": list(ds.classes),
        "mean": [float(v) for v in mean], "std": [float(v) for v in std],
        "backend": get_backend(),
        "world_size": distributed.world_size if distributed is not None else 1,
        "lr_warmup": distributed.lr_warmup if distributed is not None else None,
        "title": f"{key}{'-' + variant if variant else ''} on {ds.name}",
    })
    trainer = Trainer(model, optimizer, scheduler=scheduler, out_dir=out if writer else None,
                      early_stopping=config.early_stopping,
                      progress=config.progress if writer else False,
                      log=log if writer else None, config=run_config, callbacks=callbacks,
                      distributed=distributed)
    notes = []
    if ckpt is not None:
        trainer.load_state_dict(ckpt, train, path=config.resume)
        say(f"resuming {config.resume} after epoch {trainer.epoch}")
        note = _continue_horizon(trainer, config.epochs, log)
        if note:
            notes.append(note)
    n_train, n_val, n_test = (_dataset_size(loader) for loader in (train, val, test))
    ranks = ""
    if distributed is not None:
        ranks = f", {distributed.world_size} ranks x batch {config.batch_size}"
    say(f"training {run_config['title']}: {n_train} train, {n_val} validation, "
        f"{n_test} test images, {model.num_parameters():,} parameters, "
        f"backend {run_config['backend']}, writing to {out}{ranks}")
    if config.diagnostics and writer:  # per-layer numbers each epoch (train/diagnostics.py)
        Diagnostics(model, optimizer, out_dir=out).attach(trainer)
    start = time.perf_counter()
    trainer.fit(train, val, config.epochs)
    if config.overfit:
        notes.append(report_overfit(model, train))
        say(notes[-1])
    metrics = trainer.test(test)
    say(f"test loss {metrics['test_loss']:.4f}  test accuracy "
        f"{metrics['test_accuracy']:.4f}  top-5 {metrics['test_top5_accuracy']:.4f}  "
        f"({time.perf_counter() - start:.0f}s)")
    return TrainResult(trainer, metrics, ds, test, out, notes)


def _dataset_size(loader) -> int:
    """Images in a loader's whole dataset (a rank's sharded loader wraps the full one)."""
    if loader is None:
        return 0
    inner = getattr(loader, "loader", loader)
    return len(inner.dataset)


def report_overfit(model, train_loader) -> str:
    """Whether ``model`` memorised its training images (eval mode, no augmentation)."""
    loader = getattr(train_loader, "loader", train_loader)   # a rank's shard: the whole
    # an --overfit run has no augmentation: its transform is the normalisation alone
    plain = DataLoader(loader.dataset, 256, transform=loader.transform, device=loader.device)
    result = evaluate(model, plain)
    n, acc = result["count"], result["accuracy"]
    if acc == 1.0:
        return (f"overfit check: PASSED, 100% train accuracy on {n} images (loss "
                f"{result['loss']:.4f}): the model can memorise them")
    return (f"overfit check: NOT YET, {acc:.1%} train accuracy on {n} images (loss "
            f"{result['loss']:.4f}); a healthy model and optimizer reach 100% on a few "
            "images: try more --epochs or another --lr, then look for a bug")

