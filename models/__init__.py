"""The paper's networks, as minigrad Modules."""
from .mlp import MLP
