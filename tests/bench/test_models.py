"""benchmarks/models.py: what the timed steps run."""
import numpy

import minicnn
from minicnn import nn
from minicnn.bench import models


def test_minicnn_inference_runs_the_folded_copy_made_once(monkeypatch):
    made = []
    real = minicnn.optimize_for_inference

    def spy(model, example_input=None):
        made.append(real(model, example_input=example_input))
        return made[-1]

    monkeypatch.setattr(minicnn, "optimize_for_inference", spy)
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 3))
    x = numpy.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(numpy.float32)
    train_step, infer = models._minicnn_steps(model, x, numpy.array([0, 2]), "numpy")
    train_step()
    infer()
    infer()
    assert len(made) == 1 and not model.training
    assert isinstance(made[0][1], nn.Identity)  # the BatchNorm2d was folded away
