"""Layers, the Module they are built from, and weight initializers."""
from . import init
from .layers import BatchNorm1d, BatchNorm2d, Conv2d, Flatten, Linear, ReLU
from .module import Module, Parameter, Sequential

__all__ = ["Module", "Parameter", "Sequential", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Flatten", "Linear",
           "ReLU"]
