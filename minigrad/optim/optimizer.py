"""What every optimizer shares: the parameters, their gradients, and a per-parameter state."""
from ..backend import CPU, to_device, to_host


class Optimizer:
    """Updates parameters in place from their `.grad` (filled by `loss.backward()` or set by hand).

    Updates run on raw arrays, outside the graph: they are not part of any derivative.
    """

    def __init__(self, params, **hyper):
        self.params = list(params)
        if not self.params:
            raise ValueError("the optimizer got no parameters")
        self.hyper = hyper
        self.state = [{} for _ in self.params]   # arrays only, e.g. Adam's moments
        self.counts = [0] * len(self.params)     # updates each parameter has had (a late starter counts from 0)
        self.steps = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        self.steps += 1
        for i, (p, state) in enumerate(zip(self.params, self.state)):
            if p.grad is not None:
                self.counts[i] += 1
                self.update(p.data, p.grad.data, state, self.counts[i])

    def update(self, param, grad, state, t):
        """Change `param` in place; `t` counts this parameter's updates, this one included."""
        raise NotImplementedError

    def state_dict(self):
        return {"steps": self.steps, "counts": list(self.counts), "hyper": dict(self.hyper),
                "state": [{k: _copy_to(v, CPU) for k, v in s.items()} for s in self.state]}

    def load_state_dict(self, saved):
        if len(saved["state"]) != len(self.params):
            raise ValueError("optimizer state was saved for a different number of parameters")
        self.steps, self.counts, self.hyper = saved["steps"], list(saved["counts"]), dict(saved["hyper"])
        self.state = [{k: _copy_to(v, p.device) for k, v in s.items()} for s, p in zip(saved["state"], self.params)]


def _copy_to(array, device):
    """A private copy on `device`: saved and live state never alias."""
    return to_device(to_host(array).copy(), device)
