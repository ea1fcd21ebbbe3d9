"""Exercise sgd_momentum: one step of SGD with momentum, PyTorch's rule.

With g the gradient, v the velocity, mu the momentum, wd the weight decay:

    g = g + wd * param
    v = mu * v + g
    g = g + mu * v     if nesterov,  else  g = v
    param = param - lr * g

The velocity starts at zeros, so the first step sets v = g (as PyTorch does).

Check your work with ``minicnn exercise check sgd_momentum``.
"""
import numpy as np  # noqa: F401  (you will need it)


def sgd_momentum_step(param, grad, velocity, lr, momentum, weight_decay, nesterov):
    """One update of one parameter.

    Args:
        param, grad, velocity: float64 arrays of the same shape.
        lr, momentum, weight_decay: floats >= 0.
        nesterov: bool.
    Returns:
        (param, velocity): the new parameter and the new velocity (new arrays,
        or the given ones updated in place).

    Hint: the velocity accumulates gradients, not steps: lr multiplies it only
    when the parameter moves (the CS231n notes' v = mu*v - lr*g is another
    convention; here v must equal PyTorch's momentum buffer).
    """
    raise NotImplementedError("TODO: sgd_momentum_step: weight decay, velocity, update")
