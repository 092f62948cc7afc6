"""Test helpers: derivative checks against finite differences, and a strict stand-in device."""
from .gradcheck import check_grad, check_second_order, numerical_directional

__all__ = ["check_grad", "check_second_order", "numerical_directional"]
