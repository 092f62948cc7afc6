"""What every optimizer shares: the parameters, their gradients, and a per-parameter state."""
from ..backend import to_device, to_host


class Optimizer:
    """Updates parameters in place from their `.grad` (filled by `loss.backward()` or set by hand).

    Updates run on raw arrays, outside the graph: they are not part of any derivative.
    """

    def __init__(self, params, **hyper):
        self.params = list(params)
        if not self.params:
            raise ValueError("the optimizer got no parameters")
        self.hyper = hyper
        self.state = [{} for _ in self.params]
        self.steps = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        self.steps += 1
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                self.update(p.data, p.grad.data, state)

    def update(self, param, grad, state):
        raise NotImplementedError

    def state_dict(self):
        return {"steps": self.steps, "hyper": dict(self.hyper),
                "state": [{k: to_host(v).copy() for k, v in s.items()} for s in self.state]}

    def load_state_dict(self, saved):
        if len(saved["state"]) != len(self.params):
            raise ValueError("optimizer state was saved for a different number of parameters")
        self.steps, self.hyper = saved["steps"], dict(saved["hyper"])
        self.state = [{k: to_device(v, p.device) for k, v in s.items()} for s, p in zip(saved["state"], self.params)]
