"""The training curves: loss and accuracy per epoch, train vs validation."""
from __future__ import annotations

from minicnn.runtime.fileio import save_figure

__all__ = ["plot_history", "save_figure"]


def plot_history(history: list, path: str, title: str | None = None) -> str:
    """Two panels, loss and accuracy against epoch, train and validation; returns ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [e["epoch"] for e in history]
    fig = Figure(figsize=(10, 4))
    for ax, metric, label in ((fig.add_subplot(1, 2, 1), "loss", "loss"),
                              (fig.add_subplot(1, 2, 2), "accuracy", "accuracy")):
        ax.plot(epochs, [e[f"train_{metric}"] for e in history], "o-", label="train")
        val = [(e["epoch"], e[f"val_{metric}"]) for e in history
               if e.get(f"val_{metric}") is not None]
        if val:
            ax.plot([v[0] for v in val], [v[1] for v in val], "s-", label="validation")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs only
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(f"model {label}")
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)
