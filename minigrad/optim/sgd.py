"""Stochastic gradient descent with momentum and (L2) weight decay, as PyTorch defines them:

    g ← ∇ + wd·θ        v ← μ·v + g        θ ← θ - lr·v      (v = g when μ = 0)
"""
from .optimizer import Optimizer


class SGD(Optimizer):
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay)

    def update(self, param, grad, state, t):
        lr, mu, wd = self.hyper["lr"], self.hyper["momentum"], self.hyper["weight_decay"]
        if wd:
            grad = grad + wd * param
        if mu:
            if "velocity" not in state:
                state["velocity"] = grad.copy()
            else:
                state["velocity"] *= mu
                state["velocity"] += grad
            grad = state["velocity"]
        param -= lr * grad
