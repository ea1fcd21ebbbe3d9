"""Training: the recipe (TrainConfig, fit), the Trainer (epochs, evaluate,
checkpoints, resume), metrics and curves.

    from minicnn.train import TrainConfig, fit
    result = fit(TrainConfig(model="lenet5", variant="modern", data="digits", epochs=1))

    from minicnn.train import Trainer
    trainer = Trainer(model, optimizer, scheduler=scheduler, out_dir="runs/x")
    trainer.fit(train_loader, val_loader, epochs=15)
    trainer.test(test_loader)       # writes runs/x/metrics.json
"""
from minicnn.train.plots import plot_history
from minicnn.train.recipe import ConfigError, TrainConfig, TrainResult, fit
from minicnn.train.trainer import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    NonFiniteLossError,
    Trainer,
    evaluate,
    load_checkpoint,
    topk_correct,
    write_json,
)

__all__ = ["Trainer", "evaluate", "topk_correct", "load_checkpoint", "write_json",
           "NonFiniteLossError", "CheckpointError", "CHECKPOINT_FORMAT", "plot_history",
           "TrainConfig", "TrainResult", "ConfigError", "fit"]
