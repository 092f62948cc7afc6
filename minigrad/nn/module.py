"""Module: a bundle of parameters, buffers and submodules, with a forward computation.

Parameters are Tensors that require gradients; buffers are plain arrays that
belong to the model but are not trained (batch norm's running statistics). A
module finds its parts by looking at its attributes, in the order they were set,
including lists of modules, so `named_parameters` needs no registration calls.
Parameters must be attributes of a module: a Parameter inside a plain list or
dict attribute is not found (wrap it in a small Module instead).
"""
import numpy

from ..backend import CPU, get_device, to_device, to_host
from ..core import Tensor


class Parameter(Tensor):
    """A leaf Tensor that requires a gradient."""

    __slots__ = ()

    def __init__(self, data):
        super().__init__(data, requires_grad=True)


class Module:
    training = True
    buffer_names = ()   # attributes holding arrays that are state but not parameters

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args):
        raise NotImplementedError

    # --- finding the parts ----------------------------------------------------------------
    def named_children(self):
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def named_parameters(self, prefix="", _seen=None):
        """(dotted name, Parameter) pairs; a parameter shared by several modules is listed once."""
        seen = set() if _seen is None else _seen
        for name, value in vars(self).items():
            if isinstance(value, Parameter) and id(value) not in seen:
                seen.add(id(value))
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child.named_parameters(f"{prefix}{name}.", seen)

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        for name in self.buffer_names:
            yield prefix + name, getattr(self, name)
        for name, child in self.named_children():
            yield from child.named_buffers(f"{prefix}{name}.")

    def modules(self):
        yield self
        for _, child in self.named_children():
            yield from child.modules()

    # --- state --------------------------------------------------------------------------
    def state_dict(self):
        """Every parameter and buffer by dotted name, as host NumPy copies."""
        state = {name: to_host(p.data).copy() for name, p in self.named_parameters()}
        state.update((name, to_host(b).copy()) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state):
        """Copy values in place (parameters keep their identity, so optimizers stay attached)."""
        targets = dict(self.named_parameters())
        buffers = dict(self.named_buffers())
        missing = sorted((set(targets) | set(buffers)) - set(state))
        unexpected = sorted(set(state) - set(targets) - set(buffers))
        if missing or unexpected:
            raise ValueError(f"state does not match the model: missing {missing}, unexpected {unexpected}")
        for name, value in state.items():
            current = targets[name].data if name in targets else buffers[name]
            value = numpy.asarray(value)
            if value.shape != current.shape:
                raise ValueError(f"{name}: saved shape {value.shape} does not match the model's {current.shape}")
            current[...] = to_device(value.astype(current.dtype), self.device)

    # --- modes and places ---------------------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    def to(self, device):
        """Move every parameter and buffer to `device` (a Device, or a name resolved here) in place; every
        module moved carries that Device from then on (`device`)."""
        device = get_device(device)
        for m in self.modules():
            m._device = device
            for value in vars(m).values():
                if isinstance(value, Parameter):
                    value.data = to_device(value.data, device)
                    if value.grad is not None:
                        value.grad = Tensor(to_device(value.grad.data, device))
            for name in m.buffer_names:
                setattr(m, name, to_device(getattr(m, name), device))
        return self

    @property
    def device(self):
        """The Device this module was moved to (`to`); one never moved (built on the CPU, or put together from
        arrays already on a device, like a stacked ensemble) is where its first parameter is, else the CPU."""
        device = vars(self).get("_device")
        if device is not None:
            return device
        first = next(iter(self.named_parameters()), None)
        return first[1].device if first else CPU

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def __repr__(self):
        children = "".join(f"\n  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in self.named_children())
        return f"{type(self).__name__}({self.extra_repr()}{children}{chr(10) if children else ''})"

    def extra_repr(self):
        return ""


class Sequential(Module):
    """Modules applied one after another."""

    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)
