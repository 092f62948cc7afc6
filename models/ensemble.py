"""Seed ensembles: the S members of a curve, nets that differ only in their seed, trained as one.

A 30×128 net at batch 500 is far too small to fill a GPU: one net at a time, a step is
hundreds of tiny kernel launches. S members in one pass do S times the work per launch.

Member s is exactly the single net of its seed: the members are built one by one, each with
its own generator, and only then put together. Two ways to hold them, one interface:

* `Stacked` (the fully connected nets): every parameter and buffer becomes the members'
  arrays stacked on a leading member axis, so one batched product runs a layer of every
  member (minigrad's linear, cross-entropy and batch norm take leading batch axes).
  Vectors (biases, gains, batch-norm statistics) stack to (S, 1, n), so they broadcast
  against activations (S, N, n) as (n,) does against (N, n); all else to (S, *shape).
* `Looped` (any net, the conv nets): the members stay as they are and run one after another.

Both take x of shape (S, N, ...), member s's minibatch at [s], or (N, ...) read by every
member, and return logits (S, N, C); `penalty()` is one value per member. The loss of an
ensemble is the sum of its members' losses, so member s's gradient, Adam step and Hessian
(one diagonal block of the ensemble's) are exactly its single net's.

`member(s)` is member s as a single net whose arrays are views into the ensemble's: what
measurements and checkpoints read, and what `load_state_dict` writes through.
"""
import copy

from minigrad import get_array_module, get_device, nn, stack

from .build import build


def ensemble(configs, device="cpu"):
    """The ensemble of the models `configs` describe (flat models.build dicts that differ only in seed), on device
    (a Device, or a name resolved here, once for all members)."""
    device = get_device(device)
    members = [build(config).to(device) for config in configs]
    stacked = len(members) > 1 and all(config.get("arch", "mlp") == "mlp" for config in configs)
    return Stacked(members) if stacked else Looped(members)


def _stack(arrays):
    """Members' arrays on a leading axis; vectors (n,) as (S, 1, n)."""
    return get_array_module(arrays[0]).stack([a.reshape(1, -1) if a.ndim == 1 else a for a in arrays])


def _unstack(array, s, shape):
    """Member s's view of a stacked array, in the member's own shape."""
    return array[s].reshape(shape)


class _Hidden:
    """Holds the member nets where Module's search for parameters does not look."""

    def __init__(self, nets):
        self.nets = nets


class Stacked(nn.Module):
    """S fully connected nets of one architecture, each array stacked on a leading member axis."""

    stacked = True

    def __init__(self, members):
        self.size = len(members)
        self.net = copy.deepcopy(members[0])
        self._members = _Hidden(members)
        for target, parts in self._pairs():
            for name, value in vars(target).items():
                if isinstance(value, nn.Parameter):
                    value.data = _stack([getattr(part, name).data for part in parts])
            for name in target.buffer_names:
                setattr(target, name, _stack([getattr(part, name) for part in parts]))
        self.config = self.net.config
        for s in range(self.size):      # the members' own arrays become views: one copy of the weights, not two
            self.member(s)

    def _pairs(self):
        """(module of the stacked net, the same module of every member), over the whole tree."""
        return zip(self.net.modules(), zip(*(member.modules() for member in self._members.nets)))

    def forward(self, x, record=None):
        return self.net(x, record=record)

    def penalty(self):
        return self.net.penalty()

    def member(self, s):
        """Member s as a single net sharing this ensemble's arrays (and its train/eval mode)."""
        for target, parts in self._pairs():
            part = parts[s]
            for name, value in vars(target).items():
                if isinstance(value, nn.Parameter):
                    mine = getattr(part, name)
                    mine.data, mine.grad = _unstack(value.data, s, mine.data.shape), None
            for name in target.buffer_names:
                setattr(part, name, _unstack(getattr(target, name), s, getattr(part, name).shape))
        return self._members.nets[s].train(self.training)

    def member_optimizer(self, saved, s):
        """Member s's optimizer state (a single net's Optimizer.state_dict) from the ensemble's."""
        shapes = [p.data.shape for p in self._members.nets[s].parameters()]
        state = [{k: _unstack(v, s, shape) for k, v in entry.items()} for entry, shape in zip(saved["state"], shapes)]
        return dict(saved, counts=list(saved["counts"]), state=state)

    def joint_optimizer(self, saved):
        """The inverse of member_optimizer: the ensemble's optimizer state from every member's."""
        _same_counts(saved)
        state = [{k: _stack([member["state"][i][k] for member in saved]) for k in saved[0]["state"][i]}
                 for i in range(len(saved[0]["state"]))]
        return dict(saved[0], counts=list(saved[0]["counts"]), state=state)


class Looped(nn.Module):
    """S nets of one architecture run one after another: the ensemble interface for nets not worth stacking."""

    stacked = False

    def __init__(self, members):
        self.size = len(members)
        self.members = list(members)
        self.config = members[0].config
        self._input_ndim = 2 if self.config.get("arch", "mlp") == "mlp" else 4

    def forward(self, x):
        split = x.ndim == self._input_ndim + 1
        return stack([net(x[s] if split else x) for s, net in enumerate(self.members)])

    def penalty(self):
        values = [net.penalty() for net in self.members]
        return None if values[0] is None else stack(values)

    def member(self, s):
        return self.members[s].train(self.training)

    def member_optimizer(self, saved, s):
        n = len(self.members[0].parameters())
        return dict(saved, counts=saved["counts"][s * n:(s + 1) * n], state=saved["state"][s * n:(s + 1) * n])

    def joint_optimizer(self, saved):
        _same_counts(saved)
        return dict(saved[0], counts=[c for member in saved for c in member["counts"]],
                    state=[entry for member in saved for entry in member["state"]])


def _same_counts(saved):
    """Members trained together have had the same steps; anything else cannot be one optimizer."""
    if any(member["steps"] != saved[0]["steps"] or member["counts"] != saved[0]["counts"] for member in saved):
        raise ValueError("the members' optimizer states are at different steps; they cannot be trained as one ensemble")
