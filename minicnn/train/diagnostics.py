"""Training diagnostics: the per-layer numbers to watch while a network learns.

    diagnostics = Diagnostics(model, optimizer, out_dir="runs/x")
    for epoch in ...:
        for x, y in loader:
            loss = ...; optimizer.zero_grad(); loss.backward()
            optimizer.step()            # attach() wrapped it: numbers before and after
        diagnostics.on_epoch_end(epoch)  # averages -> diagnostics.json, diagnostics.png

Per epoch, averaged over its steps, for every parameter (``conv1.weight`` ...):

* ``grad_norm``: ||g||, the L2 norm of its gradient. Zero: no signal reaches
  it (a dead layer); growing fast: exploding gradients.
* ``update_ratio``: ||w_after - w_before|| / ||w_before||, the size of one
  step relative to the weights. About 1e-3 is healthy; much larger means the
  learning rate is too high, much smaller that it is too low.

and for every layer without children (``conv1``, ``act`` ...), over the
values of its output:

* ``mean`` and ``std`` of the activations: they should neither vanish to 0 nor
  blow up as the network gets deeper (what good initialisation buys);
* ``zero_fraction``: the share of exact zeros, e.g. ReLUs that never fire
  (dead units) when it nears 1.

The numbers come from the model and optimizer alone: forward hooks on the
layers (activations, training mode only), and a wrapper around
``optimizer.step`` that reads ``p.grad`` and copies the weights before the
step, and measures their change after it. ``attach(trainer)`` also wraps the
Trainer's ``train_epoch`` so that ``on_epoch_end`` runs after each epoch.
"""
from __future__ import annotations

import math
import os

from minicnn.autograd import Tensor
from minicnn.backend import get_array_module
from minicnn.runtime.fileio import save_figure, write_json

__all__ = ["Diagnostics"]


def _norm(array) -> float:
    xp = get_array_module(array)
    return float(xp.sqrt((array.astype(xp.float64) ** 2).sum()))


class _Mean:
    """A running mean of named values over the steps of one epoch."""

    def __init__(self):
        self.sums, self.counts = {}, {}

    def add(self, name: str, key: str, value: float) -> None:
        self.sums.setdefault(name, {}).setdefault(key, 0.0)
        self.sums[name][key] += value
        self.counts.setdefault(name, {}).setdefault(key, 0)
        self.counts[name][key] += 1

    def result(self) -> dict:
        return {name: {k: v / self.counts[name][k] for k, v in values.items()}
                for name, values in self.sums.items()}


class Diagnostics:
    """Per-layer gradient norms, update/weight ratios and activation statistics.

    Args:
        model: a minicnn.nn.Module.
        optimizer: the optimizer over its parameters (its ``step`` is wrapped).
        out_dir: where ``on_epoch_end`` writes diagnostics.json and diagnostics.png
            (None: keep them in ``history`` only).
    """

    def __init__(self, model, optimizer, out_dir: str | None = None):
        self.model = model
        self.optimizer = optimizer
        self.out_dir = out_dir
        self.history: list[dict] = []    # one entry per epoch
        self.params = [(name, p) for name, p in model.named_parameters()]
        self._epoch = _Mean()
        self._handles = []
        self._unwrap = []
        for name, module in model.named_modules():
            if name and not list(module.children()):
                self._handles.append(module.register_forward_hook(self._activation_hook(name)))
        step = optimizer.step

        def step_with_diagnostics(*args, **kwargs):
            before = self.before_step()
            result = step(*args, **kwargs)
            self.after_step(before)
            return result
        optimizer.step = step_with_diagnostics  # an instance attribute: the class is untouched
        self._unwrap.append(lambda: vars(optimizer).pop("step", None))

    # ----------------------------------------------------------- the hooks
    def _activation_hook(self, name):
        def hook(module, args, output):
            if not module.training or not isinstance(output, Tensor) \
                    or output.dtype.kind != "f":
                return None
            a = output.data
            xp = get_array_module(a)
            self._epoch.add(name, "mean", float(a.mean()))
            self._epoch.add(name, "std", float(a.std()))
            self._epoch.add(name, "zero_fraction", float(xp.count_nonzero(a == 0)) / a.size)
            return None
        return hook

    def before_step(self) -> dict:
        """Gradient norms now (before the step), and a copy of each weight."""
        before = {}
        for name, p in self.params:
            if p.grad is None:
                continue
            self._epoch.add(name, "grad_norm", _norm(p.grad))
            before[name] = p.data.copy()
        return before

    def after_step(self, before: dict) -> None:
        """The update/weight ratio ||w_after - w_before|| / ||w_before|| of each weight."""
        for name, p in self.params:
            if name in before:
                w_norm = _norm(before[name])
                ratio = _norm(p.data - before[name]) / w_norm if w_norm > 0 else math.nan
                self._epoch.add(name, "update_ratio", ratio)

    def on_epoch_end(self, epoch: int) -> dict:
        """Average the epoch's steps into one history entry; write the files."""
        averages = self._epoch.result()
        self._epoch = _Mean()
        entry = {"epoch": int(epoch), "parameters": {}, "activations": {}}
        for name, values in averages.items():
            kind = "parameters" if "grad_norm" in values or "update_ratio" in values \
                else "activations"
            entry[kind][name] = values
        self.history.append(entry)
        if self.out_dir is not None:
            os.makedirs(self.out_dir, exist_ok=True)
            write_json({"history": self.history}, os.path.join(self.out_dir,
                                                                "diagnostics.json"))
            self.plot(os.path.join(self.out_dir, "diagnostics.png"))
        return entry

    def attach(self, trainer) -> "Diagnostics":
        """Call ``on_epoch_end`` after each of ``trainer``'s training epochs."""
        train_epoch = trainer.train_epoch

        def train_epoch_with_diagnostics(loader):
            result = train_epoch(loader)
            self.on_epoch_end(trainer.epoch + 1)  # fit() counts the epoch after this
            return result
        trainer.train_epoch = train_epoch_with_diagnostics
        self._unwrap.append(lambda: vars(trainer).pop("train_epoch", None))
        return self

    def close(self) -> None:
        """Remove the hooks and wrappers."""
        for h in self._handles:
            h.remove()
        for undo in self._unwrap:
            undo()
        self._handles, self._unwrap = [], []

    # ------------------------------------------------------------ the picture
    def plot(self, path: str) -> str:
        """Four panels against epoch, one line per layer: gradient norm and
        update/weight ratio (weights only, log scale), activation std and zero fraction."""
        import matplotlib  # optional dependency: only the picture needs it
        matplotlib.use("Agg")
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        epochs = [e["epoch"] for e in self.history]
        fig = Figure(figsize=(13, 8))
        panels = [("parameters", "grad_norm", "gradient norm ||g||", True),
                  ("parameters", "update_ratio", "update / weight ||dw|| / ||w||", True),
                  ("activations", "std", "activation std", False),
                  ("activations", "zero_fraction", "fraction of zero activations", False)]
        for k, (kind, key, title, log) in enumerate(panels, start=1):
            ax = fig.add_subplot(2, 2, k)
            names = list(dict.fromkeys(n for e in self.history for n in e[kind]))
            if kind == "parameters":
                names = [n for n in names if n.endswith("weight")]  # biases clutter it
            for name in names:
                ys = [e[kind].get(name, {}).get(key, math.nan) for e in self.history]
                ax.plot(epochs, ys, "o-", label=name, markersize=3)
            if key == "update_ratio":
                ax.axhline(1e-3, color="grey", linestyle="--", linewidth=1)
                ax.text(epochs[0] if epochs else 0, 1e-3, " 1e-3", va="bottom", color="grey")
            if log and names:
                ax.set_yscale("log")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("epoch")
            ax.set_title(title)
            ax.grid(True, alpha=0.3)
            if names:
                ax.legend(fontsize=7, ncol=2 if len(names) > 6 else 1)
        fig.tight_layout()
        return save_figure(fig, path)
