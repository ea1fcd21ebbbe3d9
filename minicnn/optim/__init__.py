"""minicnn.optim: optimizers and learning-rate schedules, as torch.optim.

    from minicnn.optim import SGD, lr_scheduler

    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(90):
        for x, y in batches:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
        scheduler.step()
"""
from minicnn.optim import lr_scheduler
from minicnn.optim.adam import Adam, AdamW
from minicnn.optim.optimizer import Optimizer
from minicnn.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
