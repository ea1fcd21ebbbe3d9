"""Stochastic gradient descent with momentum, dampening, weight decay and Nesterov."""
from __future__ import annotations

from minicnn.backend import get_array_module, kernel
from minicnn.optim.optimizer import Optimizer

__all__ = ["SGD"]


def _sgd_step_reference(param, grad, buf, lr, momentum, dampening, weight_decay,
                        nesterov, first):
    """One SGD update of one parameter, in place (the reference of kernel 'sgd_step').

    Args:
        param: the parameter's data, updated in place.
        grad: its gradient (same shape and dtype; not modified).
        buf: the momentum buffer, updated in place; None when momentum == 0.
        lr, momentum, dampening, weight_decay: Python floats.
        nesterov: bool.
        first: True on the parameter's first step, when ``buf`` holds no
            history yet and is simply set to the gradient.
    Returns:
        None.

    With ``g`` the gradient and ``p`` the parameter::

        g = g + weight_decay * p                     (L2 penalty)
        buf = g                  on the first step
        buf = momentum * buf + (1 - dampening) * g   afterwards
        g = g + momentum * buf   if nesterov, else g = buf
        p = p - lr * g
    """
    xp = get_array_module(param)
    g = grad
    if weight_decay != 0:
        g = g + weight_decay * param  # a new array: the caller's grad stays as it was
    if buf is not None:
        if first:
            xp.copyto(buf, g)
        else:
            buf *= momentum
            buf += (1 - dampening) * g
        if nesterov:
            g = g + momentum * buf
        else:
            g = buf
    param -= lr * g


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's update rule.

    For each parameter ``p`` with gradient ``g`` (``μ`` the momentum, ``τ`` the
    dampening, ``λ`` the weight decay, ``η`` the learning rate)::

        g ← g + λ p
        b ← g                      (first step)
        b ← μ b + (1 − τ) g        (later steps)
        g ← g + μ b   (nesterov)   or   g ← b
        p ← p − η g

    The velocity ``b`` accumulates *gradients*; the learning rate multiplies
    it only when the parameter moves. The older form of Sutskever et al. (and
    of Caffe, Keras' early SGD, the CS231n notes) accumulates *steps*:
    ``v ← μ v − η g ; p ← p + v``. With a constant learning rate the two give
    the same trajectory (``v = −η b``); they differ as soon as ``η`` changes,
    for example under a learning-rate schedule: here the new rate applies at
    once to the whole velocity, there only to the new gradients. The first
    step also differs when ``τ ≠ 0``: PyTorch sets ``b = g`` undamped.

    Args:
        params: iterable of Tensors, or of dicts (parameter groups).
        lr: learning rate η (default 1e-3, as PyTorch).
        momentum: μ ≥ 0 (default 0: plain SGD, no buffer is kept).
        dampening: τ, scales down the new gradient in the velocity (default 0).
        weight_decay: λ ≥ 0, the L2 penalty ``λ/2 ‖p‖²`` added to the loss.
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening 0).

    Each parameter's update runs ``minicnn.backend.kernel('sgd_step', ...)``:
    a fast backend may replace the NumPy/CuPy reference above.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov}
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        if group["lr"] < 0.0:
            raise ValueError(f"SGD: Invalid learning rate: {group['lr']} (must be >= 0)")
        if group["momentum"] < 0.0:
            raise ValueError(f"SGD: Invalid momentum value: {group['momentum']} "
                             "(must be >= 0)")
        if group["weight_decay"] < 0.0:
            raise ValueError(f"SGD: Invalid weight_decay value: {group['weight_decay']} "
                             "(must be >= 0)")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "SGD: Nesterov momentum requires a momentum and zero dampening "
                f"(got momentum={group['momentum']}, dampening={group['dampening']})")

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure()'s loss."""
        loss = self._run_closure(closure)
        # check every gradient first: a bad one must stop the step before any update
        grads = [self._grads(gi) for gi in range(len(self.param_groups))]
        for group, pairs in zip(self.param_groups, grads):
            momentum = group["momentum"]
            for p, grad in pairs:
                buf = None
                first = False
                if momentum != 0:  # plain SGD keeps no state, as PyTorch
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        xp = get_array_module(p.data)
                        buf = xp.empty_like(p.data)  # filled with the gradient below
                        first = True
                        state["momentum_buffer"] = buf
                sgd_step = kernel("sgd_step", _sgd_step_reference, like=p.data)
                sgd_step(p.data, grad, buf, float(group["lr"]), float(momentum),
                         float(group["dampening"]), float(group["weight_decay"]),
                         bool(group["nesterov"]), first)
                p._bump_version()
        return loss
