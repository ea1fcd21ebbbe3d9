"""The Trainer: epochs of training, evaluation, schedules, checkpoints and history.

    trainer = Trainer(model, optimizer, scheduler=scheduler, out_dir="runs/lenet")
    history = trainer.fit(train_loader, val_loader, epochs=15)
    metrics = trainer.test(test_loader)          # also writes runs/lenet/metrics.json

One epoch: for each batch, ``loss = loss_fn(model(x), y)``, ``zero_grad``,
``backward``, ``step``; then the validation pass (no gradients, ``model.eval()``),
the scheduler step (``step()`` per epoch, or ``step(val_loss)`` for
ReduceLROnPlateau), the history entry, the checkpoints and the curves.

Checkpoints (``out_dir/checkpoint_last.npz`` every epoch and
``out_dir/checkpoint_best.npz`` on the best validation accuracy) hold the
model, optimizer and scheduler state, minicnn's random generator (dropout), the
data loader's seed and epoch (shuffling and augmentation are drawn per epoch
from ``(seed, epoch)``), the history and the epoch. They are written atomically
by ``minicnn.save``. ``resume(dir)`` restores all of it, so 2 epochs straight and
1 epoch + resume give bit-identical weights and metrics.

The pair is consistent by construction: ``best`` is written before ``last``,
and ``last`` records ``best_epoch``. A kill between the two renames leaves
``best`` one epoch ahead of ``last``; resuming retrains that epoch bit for bit
and writes it again. A ``best`` older than ``last`` says it should be (a file
from before this rule, or a copy gone wrong) is rewritten from ``last`` on
resume when ``last`` is that epoch. Stale temporary files of the trainer's own
names (``.checkpoint_last.npz.*.tmp`` ...) left by a killed run are removed
when the next run starts in the directory.

A NaN or infinite training loss raises ``NonFiniteLossError`` naming the epoch
and step, before the bad gradients reach the weights; a non-finite validation
or test loss raises it too, before that epoch's checkpoints or metrics are
written. Checkpoints are written only at the end of a good epoch, so the last
one stays intact.
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy

from minicnn import rng
from minicnn.autograd import no_grad
from minicnn.backend import get_array_module
from minicnn.functional import cross_entropy
from minicnn.runtime.fileio import remove_stale_temporaries, write_json
from minicnn.serialization import load, save
from minicnn.train.plots import plot_history

__all__ = ["Trainer", "NonFiniteLossError", "CheckpointError", "evaluate", "topk_correct",
           "load_checkpoint", "write_json", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "minicnn-checkpoint-v1"
LAST = "checkpoint_last.npz"
BEST = "checkpoint_best.npz"
OUTPUTS = (LAST, BEST, "history.json", "metrics.json", "curves.png")
CALLBACK_EVENTS = ("on_fit_start", "on_step_end", "on_epoch_end", "on_fit_end")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite during training."""


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or not a minicnn checkpoint."""


def topk_correct(logits, labels, ks=(1, 5)) -> dict:
    """How many rows have their label among the k largest logits, for each k.

    ``logits``: (N, K) array; ``labels``: (N,) ints. k larger than K counts every row.
    """
    xp = get_array_module(logits)
    K = logits.shape[1]
    kmax = min(max(ks), K)
    # the kmax best classes per row, best first: (N, K) -> (N, kmax)
    top = xp.argsort(-logits, axis=1, kind="stable")[:, :kmax]
    hits = top == labels.reshape(-1, 1)  # (N, kmax) bool
    return {k: int(hits[:, :min(k, K)].any(axis=1).sum()) for k in ks}


def _is_plateau(scheduler) -> bool:
    return type(scheduler).__name__ == "ReduceLROnPlateau"


def evaluate(model, loader, loss_fn=None, progress: bool | None = False,
             desc: str = "eval") -> dict:
    """Mean loss, top-1 and top-5 accuracy of ``model`` over ``loader`` (eval mode, no grad).

    Returns ``{'loss', 'accuracy', 'top5_accuracy', 'count'}``.
    """
    loss_fn = loss_fn or cross_entropy
    was_training = getattr(model, "training", False)
    model.eval()
    tally = _Tally()
    bar = _progress(loader, progress, desc)
    try:
        with no_grad():
            for x, y in bar:
                logits = model(x)
                tally.add(float(loss_fn(logits, y).item()), logits, y)
                tally.show(bar)
    finally:
        _close(bar)
        model.train(was_training)
    return tally.result()


# ------------------------------------------------------------ progress bars
def _progress(iterable, progress, desc, total=None):
    """A tqdm bar when ``progress`` (None: only when stderr is a terminal), else the iterable."""
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False, unit="batch",
                dynamic_ncols=True)


class _Tally:
    """Running mean loss and top-1/top-5 accuracy over the batches of one pass."""

    def __init__(self):
        self.loss, self.count, self.correct = 0.0, 0, {1: 0, 5: 0}
        self.start = time.perf_counter()

    def add(self, loss: float, logits, y) -> None:
        n = len(y)
        self.loss += loss * n
        self.count += n
        for k, c in topk_correct(logits.data, y.data).items():
            self.correct[k] += c

    def show(self, bar) -> None:
        """Loss, accuracy and images/s on the progress bar."""
        if hasattr(bar, "set_postfix"):
            rate = self.count / max(time.perf_counter() - self.start, 1e-9)
            bar.set_postfix(loss=f"{self.loss / self.count:.4f}",
                            acc=f"{self.correct[1] / self.count:.4f}", img_s=f"{rate:.0f}")

    def result(self) -> dict:
        return {"loss": self.loss / self.count, "accuracy": self.correct[1] / self.count,
                "top5_accuracy": self.correct[5] / self.count, "count": self.count}


def _close(bar):
    if hasattr(bar, "close"):
        bar.close()


# ----------------------------------------------------------------- files
def load_checkpoint(path: str) -> dict:
    """Read a checkpoint written by the Trainer; CheckpointError if it is not one.

    ``path`` may be the .npz file or a run directory (its checkpoint_last.npz).
    """
    if os.path.isdir(path):
        path = os.path.join(path, LAST)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        ckpt = load(path)
    except Exception as e:  # any unreadable file: one line naming it
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: {first}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a minicnn training checkpoint "
                              f"(expected format {CHECKPOINT_FORMAT!r})")
    return ckpt


class Trainer:
    """Train ``model`` with ``optimizer``, tracking loss and top-1/top-5 accuracy.

    Args:
        model: a minicnn.nn.Module returning logits (N, K).
        optimizer: a minicnn.optim optimizer over the model's parameters.
        loss_fn: ``loss_fn(logits, target) -> scalar Tensor`` (default cross_entropy).
        scheduler: an lr_scheduler; ReduceLROnPlateau is stepped with the
            validation loss (the training loss when there is no validation set).
        out_dir: where checkpoints, history.json/metrics.json and curves.png go
            (None: nothing is written).
        early_stopping: stop when the validation loss has not improved for this
            many epochs (None: never).
        progress: tqdm bars; None shows them only when stderr is a terminal.
        log: a function taking one line per epoch (default print; None: silent).
        config: a JSON-able dict stored in checkpoints and metrics.json (the CLI
            puts the model name, dataset, classes and normalisation there).
        callbacks: objects that may define any of ``on_fit_start(trainer)``,
            ``on_step_end(trainer, step, loss)`` (after each optimizer step),
            ``on_epoch_end(trainer, entry)`` (after the epoch's files are
            written) and ``on_fit_end(trainer)``; a missing method is skipped.
        distributed: a ``minicnn.distributed.DataParallelHook`` for data-parallel
            training (None: one process). It averages the gradients at each step
            and sums every pass's metrics over the ranks.
    """

    def __init__(self, model, optimizer, loss_fn=None, scheduler=None, out_dir=None,
                 early_stopping: int | None = None, progress: bool | None = None,
                 log=print, config: dict | None = None, callbacks=(),
                 distributed=None):
        if early_stopping is not None and (not isinstance(early_stopping, int)
                                           or early_stopping < 1):
            raise ValueError(f"Trainer: early_stopping must be a positive int or None, got "
                             f"{early_stopping!r}")
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn or cross_entropy
        self.scheduler = scheduler
        self.out_dir = out_dir
        self.early_stopping = early_stopping
        self.progress = progress
        self.log = log
        self.config = dict(config or {})
        self.distributed = distributed
        self.epoch = 0                    # epochs completed
        self.history: list[dict] = []
        self.best_val_accuracy = -1.0
        self.best_epoch = 0
        self.best_val_loss = math.inf
        self.bad_epochs = 0
        self.stopped_early = False
        self.loader_state = None          # the train loader's state at the last checkpoint
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not any(hasattr(callback, event) for event in CALLBACK_EVENTS):
                raise TypeError(f"Trainer: callback {callback!r} defines none of "
                                f"{', '.join(CALLBACK_EVENTS)}")

    def _call(self, event: str, *args) -> None:
        for callback in self.callbacks:
            method = getattr(callback, event, None)
            if method is not None:
                method(self, *args)

    # ------------------------------------------------------------ one epoch
    def train_epoch(self, loader) -> dict:
        """One pass over ``loader``; returns the epoch's mean loss and accuracies."""
        self.model.train()
        epoch = self.epoch + 1
        tally = _Tally()
        bar = _progress(loader, self.progress, f"epoch {epoch}")
        try:
            for step, (x, y) in enumerate(bar, start=1):
                logits = self.model(x)
                loss = self.loss_fn(logits, y)
                value = float(loss.item())
                if not math.isfinite(value):
                    raise NonFiniteLossError(self._nan_message(value, epoch, step))
                self.optimizer.zero_grad()
                loss.backward()
                if self.distributed is not None:   # average gradients over the ranks
                    self.distributed.step(self.optimizer)
                else:
                    self.optimizer.step()
                self._call("on_step_end", step, value)
                tally.add(value, logits, y)
                tally.show(bar)
        finally:
            _close(bar)
        return self._reduce(tally.result())

    def _reduce(self, result: dict) -> dict:
        """A pass's metrics over all ranks (data-parallel), else as they are."""
        if self.distributed is None:
            return result
        return self.distributed.reduce_metrics(result)

    def _nan_message(self, value, epoch, step=None, what="the loss") -> str:
        where = f"epoch {epoch}, step {step}" if step is not None else f"epoch {epoch}"
        msg = f"training stopped: {what} became {value} at {where}"
        last = os.path.join(self.out_dir, LAST) if self.out_dir else None
        if last and os.path.isfile(last):
            msg += (f"; the last good checkpoint {last} (epoch {self.epoch}) is intact. "
                    "Try a smaller --lr")
        else:
            msg += "; no checkpoint was written yet. Try a smaller --lr"
        return msg

    # ----------------------------------------------------------------- fit
    def fit(self, train_loader, val_loader=None, epochs: int = 1) -> list:
        """Train until ``epochs`` epochs are complete in total (a resumed run continues).

        Returns the history: one dict per epoch with ``epoch, train_loss,
        train_accuracy, train_top5_accuracy, val_loss, val_accuracy,
        val_top5_accuracy, lr, seconds`` (val_* are None without a validation set).
        """
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"Trainer.fit: epochs must be a positive int, got {epochs!r}")
        if self.out_dir is not None:
            os.makedirs(self.out_dir, exist_ok=True)
            remove_stale_temporaries(self.out_dir, OUTPUTS)
        self._call("on_fit_start")
        while self.epoch < epochs and not self.stopped_early:
            start = time.perf_counter()
            lr = float(self.optimizer.param_groups[0]["lr"])
            if hasattr(train_loader, "set_epoch"):
                train_loader.set_epoch(self.epoch)
            train = self.train_epoch(train_loader)
            val = None
            if val_loader is not None:
                val = self._reduce(evaluate(self.model, val_loader, self.loss_fn,
                                            self.progress, f"epoch {self.epoch + 1} val"))
                if not math.isfinite(val["loss"]):
                    # this epoch's weights are not "good": no checkpoint, no history
                    raise NonFiniteLossError(self._nan_message(
                        val["loss"], self.epoch + 1, what="the validation loss"))
            self._step_scheduler(train, val)
            self.epoch += 1
            entry = {
                "epoch": self.epoch,
                "train_loss": train["loss"], "train_accuracy": train["accuracy"],
                "train_top5_accuracy": train["top5_accuracy"],
                "val_loss": val["loss"] if val else None,
                "val_accuracy": val["accuracy"] if val else None,
                "val_top5_accuracy": val["top5_accuracy"] if val else None,
                "lr": lr,
                "seconds": time.perf_counter() - start,
            }
            self.history.append(entry)
            improved = self._track_best(entry)
            if hasattr(train_loader, "state_dict"):
                self.loader_state = train_loader.state_dict()
            self._write_epoch_files(improved)
            self._log_epoch(entry, epochs, train["count"])
            self._call("on_epoch_end", entry)
        self._call("on_fit_end")
        return self.history

    def _step_scheduler(self, train, val) -> None:
        if self.scheduler is None:
            return
        if _is_plateau(self.scheduler):
            self.scheduler.step(val["loss"] if val else train["loss"])
        else:
            self.scheduler.step()

    def _track_best(self, entry) -> bool:
        """Update best accuracy and the early-stopping count; True if this epoch is best."""
        acc = entry["val_accuracy"] if entry["val_accuracy"] is not None \
            else entry["train_accuracy"]
        loss = entry["val_loss"] if entry["val_loss"] is not None else entry["train_loss"]
        improved = acc > self.best_val_accuracy
        if improved:
            self.best_val_accuracy = acc
            self.best_epoch = entry["epoch"]
        if loss < self.best_val_loss:
            self.best_val_loss = loss
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
            if self.early_stopping is not None and self.bad_epochs >= self.early_stopping:
                self.stopped_early = True
        return improved

    def _log_epoch(self, e, epochs, images) -> None:
        if self.log is None:
            return
        line = (f"epoch {e['epoch']}/{epochs}  train loss {e['train_loss']:.4f} "
                f"acc {e['train_accuracy']:.4f}")
        if e["val_loss"] is not None:
            line += f"  val loss {e['val_loss']:.4f} acc {e['val_accuracy']:.4f}"
        line += f"  lr {e['lr']:.3g}  {e['seconds']:.1f}s ({images / e['seconds']:.0f} img/s)"
        if self.stopped_early:
            line += f"  early stop: no val-loss improvement for {self.bad_epochs} epochs"
        self.log(line)

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """Everything a resumed run needs, as a minicnn.save-able nested dict."""
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "rng": rng.get_rng_state(),
            "loader": self.loader_state,
            "history": self.history,
            "best_val_accuracy": self.best_val_accuracy,
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val_loss if math.isfinite(self.best_val_loss) else None,
            "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped_early,
            "config": self.config,
        }

    def load_state_dict(self, ckpt: dict, train_loader=None, path: str = "checkpoint") -> None:
        """Restore a ``state_dict()`` (the model, optimizer, scheduler, RNG and counters).

        Every field is checked for its type first; a malformed one raises a
        CheckpointError naming ``path`` and the field, and nothing is restored.
        """
        _check_fields(ckpt, path)
        self.model.load_state_dict(ckpt["model"])
        try:
            self.optimizer.load_state_dict(ckpt["optimizer"])
            if self.scheduler is not None and ckpt.get("scheduler") is not None:
                self.scheduler.load_state_dict(ckpt["scheduler"])
            rng.set_rng_state(ckpt["rng"])
        except (TypeError, ValueError, KeyError, IndexError) as e:
            raise CheckpointError(f"checkpoint {path}: cannot restore the optimizer, "
                                  f"scheduler or generator state: {_first_line(e)}") from None
        self.epoch = int(ckpt["epoch"])
        self.history = [dict(e) for e in ckpt["history"]]
        self.best_val_accuracy = float(ckpt["best_val_accuracy"])
        self.best_epoch = int(ckpt["best_epoch"])
        best_loss = ckpt.get("best_val_loss")
        self.best_val_loss = math.inf if best_loss is None else float(best_loss)
        self.bad_epochs = int(ckpt["bad_epochs"])
        self.stopped_early = bool(ckpt["stopped_early"])
        self.loader_state = ckpt.get("loader")
        if train_loader is not None and self.loader_state is not None \
                and hasattr(train_loader, "load_state_dict"):
            train_loader.load_state_dict(self.loader_state)
        self._repair_best(path)

    def _repair_best(self, path: str) -> None:
        """Make checkpoint_best.npz hold the epoch ``last`` says is best (see the module
        docstring); a best one epoch ahead is left for the retrained epoch to rewrite."""
        if self.out_dir is None or not os.path.isfile(os.path.join(self.out_dir, LAST)):
            return
        best_path = os.path.join(self.out_dir, BEST)
        if self.best_epoch == 0 or os.path.abspath(path) == os.path.abspath(best_path):
            return
        try:
            held = int(load_checkpoint(best_path)["epoch"]) if os.path.isfile(best_path) \
                else None
        except (CheckpointError, TypeError, ValueError, KeyError):
            held = None
        if held == self.best_epoch or (held is not None and held == self.epoch + 1):
            return
        if self.best_epoch == self.epoch:
            self.save_checkpoint(best_path)
            if self.log is not None:
                self.log(f"repaired {best_path}: it held epoch {held}, the best is epoch "
                         f"{self.best_epoch}")

    def save_checkpoint(self, path: str) -> None:
        save(self.state_dict(), path)

    def resume(self, path: str, train_loader=None) -> dict:
        """Continue from ``path`` (a run directory or a checkpoint file); returns the checkpoint."""
        ckpt = load_checkpoint(path)
        self.load_state_dict(ckpt, train_loader, path=path)
        return ckpt

    def _write_epoch_files(self, improved: bool) -> None:
        if self.out_dir is None:
            return
        os.makedirs(self.out_dir, exist_ok=True)
        state = self.state_dict()
        if improved:  # best first: a kill between the two leaves best ahead, never behind
            save(state, os.path.join(self.out_dir, BEST))
        save(state, os.path.join(self.out_dir, LAST))
        write_json({"history": self.history, "config": self.config},
                   os.path.join(self.out_dir, "history.json"))
        self.plot()

    def plot(self, path: str | None = None) -> str | None:
        """Draw the loss and accuracy curves to ``path`` (default out_dir/curves.png)."""
        if path is None:
            if self.out_dir is None:
                return None
            path = os.path.join(self.out_dir, "curves.png")
        return plot_history(self.history, path, title=self.config.get("title"))

    # ----------------------------------------------------------------- test
    def test(self, loader) -> dict:
        """Evaluate on the test set; writes out_dir/metrics.json; returns the metrics.

        metrics.json: ``test_loss, test_accuracy, test_top5_accuracy, epochs,
        best_epoch, best_val_accuracy, stopped_early, history, config``.
        """
        result = self._reduce(evaluate(self.model, loader, self.loss_fn, self.progress,
                                       "test"))
        if not math.isfinite(result["loss"]):
            raise NonFiniteLossError(f"the test loss is {result['loss']} after epoch "
                                     f"{self.epoch}; metrics.json was not written")
        metrics = {
            "test_loss": result["loss"],
            "test_accuracy": result["accuracy"],
            "test_top5_accuracy": result["top5_accuracy"],
            "epochs": self.epoch,
            "best_epoch": self.best_epoch,
            "best_val_accuracy": self.best_val_accuracy if self.best_epoch else None,
            "stopped_early": self.stopped_early,
            "train_seconds": float(numpy.sum([e["seconds"] for e in self.history])),
            "history": self.history,
            "config": self.config,
        }
        if self.out_dir is not None:
            write_json(metrics, os.path.join(self.out_dir, "metrics.json"))
        return metrics



def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# field: (what it must be, test)
_FIELDS = {
    "epoch": ("a non-negative int", lambda v: _is_int(v) and v >= 0),
    "model": ("a state dict", lambda v: isinstance(v, dict)),
    "optimizer": ("an optimizer state dict", lambda v: isinstance(v, dict)),
    "scheduler": ("a scheduler state dict or null", lambda v: v is None or isinstance(v, dict)),
    "rng": ("a generator state", lambda v: v is not None),
    "history": ("a list of per-epoch dicts",
                lambda v: isinstance(v, list) and all(isinstance(e, dict) for e in v)),
    "best_val_accuracy": ("a number", lambda v: _is_number(v)),
    "best_epoch": ("a non-negative int", lambda v: _is_int(v) and v >= 0),
    "best_val_loss": ("a number or null", lambda v: v is None or _is_number(v)),
    "bad_epochs": ("a non-negative int", lambda v: _is_int(v) and v >= 0),
    "stopped_early": ("a bool", lambda v: isinstance(v, (bool, numpy.bool_))),
    "loader": ("a loader state dict or null", lambda v: v is None or isinstance(v, dict)),
    "config": ("a dict", lambda v: isinstance(v, dict)),
}


def _is_int(v) -> bool:
    return isinstance(v, (int, numpy.integer)) and not isinstance(v, (bool, numpy.bool_))


def _is_number(v) -> bool:
    return isinstance(v, (int, float, numpy.integer, numpy.floating)) and \
        not isinstance(v, (bool, numpy.bool_))


def _check_fields(ckpt: dict, path: str) -> None:
    """CheckpointError naming ``path`` and the first missing or malformed field."""
    for name, (expected, ok) in _FIELDS.items():
        if name not in ckpt:
            if name in ("scheduler", "loader", "best_val_loss"):
                continue  # optional
            raise CheckpointError(f"checkpoint {path}: field {name!r} is missing")
        if not ok(ckpt[name]):
            raise CheckpointError(f"checkpoint {path}: field {name!r} must be {expected}, "
                                  f"got {type(ckpt[name]).__name__} {ckpt[name]!r:.40}")
