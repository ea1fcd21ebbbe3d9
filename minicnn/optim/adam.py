"""Adam and AdamW: adaptive moment estimation (Kingma & Ba, 2015; Loshchilov & Hutter, 2019)."""
from __future__ import annotations

from minicnn.backend import get_array_module
from minicnn.optim.optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


def _adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2,
               eps, weight_decay, decoupled_weight_decay):
    """One Adam update of one parameter; ``param`` and the moments change in place.

    ``step`` is the number of this update (1 for the first); ``max_exp_avg_sq``
    is None unless amsgrad. See ``Adam`` for the maths.
    """
    xp = get_array_module(param)
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay       # AdamW: shrink p, not the gradient
        else:
            grad = grad + weight_decay * param   # Adam: L2 penalty in the gradient
    # m ← β1 m + (1 − β1) g ;  v ← β2 v + (1 − β2) g²
    exp_avg *= beta1
    exp_avg += (1 - beta1) * grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    if max_exp_avg_sq is not None:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second = max_exp_avg_sq
    else:
        second = exp_avg_sq
    # p ← p − lr/(1 − β1^t) · m / (sqrt(v) / sqrt(1 − β2^t) + eps)
    denom = xp.sqrt(second) / bias_correction2 ** 0.5 + eps
    param -= (lr / bias_correction1) * (exp_avg / denom)


class Adam(Optimizer):
    """Adam, PyTorch's update rule.

    For each parameter ``p`` with gradient ``g``, at step ``t = 1, 2, ...``::

        g ← g + λ p                                (weight decay λ, as an L2 penalty)
        m ← β1 m + (1 − β1) g                      (first moment, m₀ = 0)
        v ← β2 v + (1 − β2) g²                     (second moment, v₀ = 0)
        m̂ = m / (1 − β1ᵗ) ;  v̂ = v / (1 − β2ᵗ)      (bias correction)
        p ← p − η m̂ / (sqrt(v̂) + ε)

    ``ε`` is added after the square root of the *bias-corrected* ``v̂``, as in
    PyTorch (the paper's Algorithm 1). With ``amsgrad=True``, ``v̂`` uses the
    running maximum of ``v`` instead (Reddi et al., 2018). With
    ``decoupled_weight_decay=True`` (that is ``AdamW``) the decay shrinks the
    parameter, ``p ← p (1 − η λ)``, instead of entering ``g``.

    Args:
        params: iterable of Tensors, or of dicts (parameter groups).
        lr: learning rate η (default 1e-3).
        betas: (β1, β2), the moments' decay rates (default (0.9, 0.999)).
        eps: ε, keeps the division finite (default 1e-8).
        weight_decay: λ (default 0).
        amsgrad: use the running maximum of v (default False).
        decoupled_weight_decay: AdamW's decay (default False).

    State per parameter: ``step`` (int), ``exp_avg`` (m), ``exp_avg_sq`` (v),
    and ``max_exp_avg_sq`` with amsgrad.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, decoupled_weight_decay=False):
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps,
                    "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "decoupled_weight_decay": decoupled_weight_decay}
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        name = type(self).__name__
        if group["lr"] < 0.0:
            raise ValueError(f"{name}: Invalid learning rate: {group['lr']} (must be >= 0)")
        if group["eps"] < 0.0:
            raise ValueError(f"{name}: Invalid epsilon value: {group['eps']} (must be >= 0)")
        if len(group["betas"]) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), "
                             f"got {group['betas']!r}")
        for i, beta in enumerate(group["betas"]):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: Invalid beta parameter at index {i}: {beta} "
                                 "(must be in [0, 1))")
        if group["weight_decay"] < 0.0:
            raise ValueError(f"{name}: Invalid weight_decay value: {group['weight_decay']} "
                             "(must be >= 0)")

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure()'s loss."""
        loss = self._run_closure(closure)
        # check every gradient first: a bad one must stop the step before any update
        grads = [self._grads(gi) for gi in range(len(self.param_groups))]
        for group, pairs in zip(self.param_groups, grads):
            beta1, beta2 = (float(b) for b in group["betas"])
            for p, grad in pairs:
                state = self.state[p]
                if len(state) == 0:
                    xp = get_array_module(p.data)
                    state["step"] = 0
                    state["exp_avg"] = xp.zeros_like(p.data)
                    state["exp_avg_sq"] = xp.zeros_like(p.data)
                if group["amsgrad"] and "max_exp_avg_sq" not in state:
                    # amsgrad from the start, or switched on later (then v's max starts at 0)
                    state["max_exp_avg_sq"] = get_array_module(p.data).zeros_like(p.data)
                state["step"] += 1
                _adam_step(p.data, grad, state["exp_avg"], state["exp_avg_sq"],
                           state.get("max_exp_avg_sq") if group["amsgrad"] else None,
                           state["step"], float(group["lr"]), beta1, beta2,
                           float(group["eps"]), float(group["weight_decay"]),
                           bool(group["decoupled_weight_decay"]))
                p._bump_version()
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    ``p ← p (1 − η λ)`` before the Adam step, instead of adding ``λ p`` to the
    gradient: the decay no longer gets divided by ``sqrt(v̂)``. Default λ = 1e-2.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, decoupled_weight_decay=True)
