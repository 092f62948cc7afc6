"""Optimizers: SGD (momentum, weight decay) and Adam."""
from .adam import Adam
from .optimizer import Optimizer
from .sgd import SGD
