"""minigrad: a small tensor autodiff engine on NumPy (CPU) and CuPy (CUDA).

Every derivative rule is written with the engine's own ops, so gradients can be
differentiated again: Hessian-vector products are exact. docs/engine.md is the
reading path.

    import minigrad as mg
    x = mg.tensor([[1.0, 2.0]], requires_grad=True)
    loss = (x * x).sum()
    (g,) = mg.grad(loss, [x])                  # 2x
"""
from . import ops
from .autodiff import grad
from .backend import (Device, DeviceError, describe, device_kind, get_array_module, get_device, to_device, to_float,
                      to_host)
from .core import Function, Tensor, grad_mode, is_grad_enabled, no_grad, tensor
from .forward import jvp
from .hessian_vector import METHODS as hvp_methods, hvp
from .ops import *  # noqa: F401,F403  (the op functions: add, exp, matmul, ...; see ops.__all__)
from . import functional, nn, optim

__all__ = ["Tensor", "Function", "tensor", "grad_mode", "no_grad", "is_grad_enabled",
           "grad", "jvp", "hvp", "hvp_methods",
           "Device", "DeviceError", "describe", "device_kind", "get_array_module", "get_device", "to_device", "to_float",
           "to_host",
           *ops.__all__]
