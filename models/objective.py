"""The training objective, one formula for training and for Hessian code: cross-entropy + penalty.

BiasReg (the paper's §2.6; docs/paper.md §2.3): every hidden unit i of every hidden layer l gets a
fixed random target bias b*_li ~ N(μ, σ) (σ a standard deviation), drawn once from
the model's seeded generator, and the loss gains

    penalty = λ Σ_l Σ_i (b_li - b*_li)²          (squared L2, summed, no ½)

over the biases of all hidden layers (not the softmax layer's). BiasL2Reg is the
same with μ = σ = 0 (targets 0). For a ConvNet the "hidden units" are the output
channels of every conv layer (stem included, linear head not): one target per
channel bias. The formula lives in `bias_penalty`, which MLP.penalty and
ConvNet.penalty both call. The penalty is built from engine ops, so
gradients and Hessian-vector products of `objective` include it: its Hessian is
2λ on each hidden bias coordinate and 0 elsewhere.

μ, σ are the paper's per data set (BIAS_TARGETS). λ is not reported; we fix
λ = 1e-3 before any training, untuned, for both BiasReg and BiasL2Reg:
* at initialisation (biases 0) the 30×128 CIFAR-100 penalty is
  λ·3840·(μ² + σ²) ≈ 3.2 (CIFAR-10: ≈ 4.5), about the initial cross-entropy
  ln 20 ≈ 3.0 (ln 10 ≈ 2.3): the two terms start with equal weight;
* its gradient per bias at initialisation, 2λ|b*| ≈ 1.8e-3, exceeds the
  cross-entropy gradient of every hidden bias of a Glorot plain net except the
  last few layers' (measured at initialisation on Gaussian inputs: 2e-7 in layer 1
  rising to 1.5e-3 in layer 28), so the targets, not the data, set the early
  biases, which is the mechanism the paper proposes; yet a bias the data need can
  still move, by about g/(2λ) from its target where g is its cross-entropy gradient.
"""
import numbers

from minigrad import concatenate
from minigrad import functional as F
from minigrad.ops import sum as _sum

# (μ, σ) of the BiasReg targets, from the paper (the paper's §2.6; docs/paper.md §2.3).
BIAS_TARGETS = {"cifar10": (0.51, 0.96), "cifar100": (0.91, 0.03), "l2": (0.0, 0.0)}
DEFAULT_BIAS_LAMBDA = 1e-3


def resolve_bias_reg(bias_reg):
    """None, or the (μ, σ) pair as floats, from None, a name in BIAS_TARGETS, or a (μ, σ) pair."""
    if bias_reg is None:
        return None
    if isinstance(bias_reg, str) and bias_reg.lower() in BIAS_TARGETS:
        return tuple(float(v) for v in BIAS_TARGETS[bias_reg.lower()])
    if isinstance(bias_reg, (list, tuple)) and len(bias_reg) == 2:
        try:
            mu, sigma = float(bias_reg[0]), float(bias_reg[1])
        except (TypeError, ValueError):
            mu = sigma = float("nan")
        if mu == mu and sigma == sigma and abs(mu) != float("inf") and 0 <= sigma < float("inf"):
            return mu, sigma
    raise ValueError(f"bias_reg must be None, a name in {', '.join(BIAS_TARGETS)} "
                     f"('l2' is BiasL2Reg, targets 0) or a (mu, sigma) pair of finite numbers with sigma >= 0; "
                     f"got {bias_reg!r}.")


def resolve_bias_lambda(targets, bias_lambda):
    """λ as a float (DEFAULT_BIAS_LAMBDA when None) given resolved targets; None without BiasReg."""
    if targets is None:
        if bias_lambda is not None:
            raise ValueError(f"bias_lambda needs a bias_reg (cifar10, cifar100, l2 or (mu, sigma)); "
                             f"got bias_lambda={bias_lambda!r} with bias_reg=None.")
        return None
    bias_lambda = DEFAULT_BIAS_LAMBDA if bias_lambda is None else bias_lambda
    if isinstance(bias_lambda, bool) or not isinstance(bias_lambda, numbers.Real) or not 0 <= bias_lambda < float("inf"):
        raise ValueError(f"bias_lambda must be a finite number >= 0; got {bias_lambda!r}.")
    return float(bias_lambda)


def bias_penalty(biases, targets, lam):
    """λ Σ (b - b*)² as a scalar Tensor on the graph: `biases` a list of bias Tensors, `targets` their
    concatenation's targets (an array of the same total size, in the same order).

    An ensemble's members have biases (S, 1, n): the penalty is then one per member, shape (S,).
    """
    biases = list(biases)
    diff = concatenate(biases, axis=-1)
    diff = diff - targets.reshape(diff.shape)
    return _sum(diff * diff, axis=(-2, -1) if diff.ndim == 3 else None) * lam


def objective(model, x, labels, penalty=True, return_logits=False):
    """Mean softmax cross-entropy of model(x) against integer labels, plus model.penalty() when asked and present.

    The one formula for the training loss and for Hessian-vector products:
        loss = lambda: objective(model, x, labels)
        minigrad.hvp(loss, model.parameters(), v)
    With return_logits=True it returns (loss, logits), so the training loop can
    count correct answers without a second forward pass.
    """
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    if penalty:
        extra = model.penalty()
        if extra is not None:
            loss = loss + extra
    return (loss, logits) if return_logits else loss
