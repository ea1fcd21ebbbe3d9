"""Solution of exercise sgd_momentum."""
import numpy as np  # noqa: F401


def sgd_momentum_step(param, grad, velocity, lr, momentum, weight_decay, nesterov):
    g = grad + weight_decay * param
    velocity = momentum * velocity + g
    if nesterov:
        g = g + momentum * velocity
    else:
        g = velocity
    return param - lr * g, velocity
