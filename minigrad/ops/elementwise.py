"""Elementwise ops. Each docstring is the derivation: the local derivative, then

    vjp (reverse):  x̄ = (∂y/∂x) ȳ        elementwise, so a product with ȳ
    jvp (forward):  ẏ = (∂y/∂x) ẋ        the same factor times the tangent

Binary ops broadcast; the reverse pass sums each cotangent back to its input's
shape (autodiff.grad), so the rules below are written as if shapes matched.
"""
from ..core import Function, plus, unwrap


class Add(Function):
    """y = a + b.   ∂y/∂a = ∂y/∂b = 1:   ā = ȳ,  b̄ = ȳ,  ẏ = ȧ + ḃ."""

    def forward(self, a, b):
        return a + b

    def vjp(self, gy):
        return gy, gy

    def jvp(self, ta, tb):
        return plus(ta, tb)


class Sub(Function):
    """y = a - b.   ā = ȳ,  b̄ = -ȳ,  ẏ = ȧ - ḃ."""

    def forward(self, a, b):
        return a - b

    def vjp(self, gy):
        return gy, -gy

    def jvp(self, ta, tb):
        return plus(ta, None if tb is None else -tb)


class Mul(Function):
    """y = a·b.   ∂y/∂a = b, ∂y/∂b = a:   ā = ȳ·b,  b̄ = ȳ·a,  ẏ = ȧ·b + a·ḃ (product rule)."""

    def forward(self, a, b):
        return a * b

    def vjp(self, gy):
        a, b = self.inputs
        need_a, need_b = self.needs_input_grad
        return (gy * b if need_a else None), (gy * a if need_b else None)

    def jvp(self, ta, tb):
        a, b = (t.data for t in self.inputs)
        return plus(None if ta is None else ta * b, None if tb is None else a * tb)


class Div(Function):
    """y = a / b.   ∂y/∂a = 1/b, ∂y/∂b = -a/b² = -y/b:   ā = ȳ/b,  b̄ = -ā·y,  ẏ = (ȧ - y·ḃ)/b."""

    def forward(self, a, b):
        return a / b

    def vjp(self, gy):
        ga = gy / self.inputs[1]
        return ga, (-ga * self.output if self.needs_input_grad[1] else None)

    def jvp(self, ta, tb):
        b, y = self.inputs[1].data, self.output.data
        return plus(ta, None if tb is None else -y * tb) / b


class Neg(Function):
    """y = -x.   x̄ = -ȳ,  ẏ = -ẋ."""

    def forward(self, x):
        return -x

    def vjp(self, gy):
        return (-gy,)

    def jvp(self, tx):
        return -tx


class Power(Function):
    """y = xᵖ for a constant p.   ∂y/∂x = p·xᵖ⁻¹:   x̄ = ȳ·p·xᵖ⁻¹,  ẏ = ẋ·p·xᵖ⁻¹."""

    p: float                # the constant exponent

    def forward(self, x):
        return x ** self.p

    def vjp(self, gy):
        x = self.inputs[0]
        return (gy * (self.p * power(x, self.p - 1)),)

    def jvp(self, tx):
        x = self.inputs[0].data
        return tx * (self.p * x ** (self.p - 1))


class Exp(Function):
    """y = eˣ.   ∂y/∂x = eˣ = y:   x̄ = ȳ·y,  ẏ = ẋ·y."""

    def forward(self, x):
        return self.xp.exp(x)

    def vjp(self, gy):
        return (gy * self.output,)

    def jvp(self, tx):
        return tx * self.output.data


class Log(Function):
    """y = ln x.   ∂y/∂x = 1/x:   x̄ = ȳ/x,  ẏ = ẋ/x."""

    def forward(self, x):
        return self.xp.log(x)

    def vjp(self, gy):
        return (gy / self.inputs[0],)

    def jvp(self, tx):
        return tx / self.inputs[0].data


class Tanh(Function):
    """y = tanh x.   ∂y/∂x = 1 - y²:   x̄ = ȳ·(1 - y²),  ẏ = ẋ·(1 - y²)."""

    def forward(self, x):
        return self.xp.tanh(x)

    def vjp(self, gy):
        y = self.output
        return (gy * (1.0 - y * y),)

    def jvp(self, tx):
        y = self.output.data
        return tx * (1 - y * y)


class Sigmoid(Function):
    """y = 1/(1 + e⁻ˣ).   ∂y/∂x = y·(1 - y):   x̄ = ȳ·y·(1 - y),  ẏ = ẋ·y·(1 - y).

    Computed as (1 + tanh(x/2))/2, which never overflows.
    """

    def forward(self, x):
        return 0.5 * (1 + self.xp.tanh(0.5 * x))

    def vjp(self, gy):
        y = self.output
        return (gy * (y * (1.0 - y)),)

    def jvp(self, tx):
        y = self.output.data
        return tx * (y * (1 - y))


class ReLU(Function):
    """y = max(x, 0) = x·[x > 0].   ∂y/∂x = [x > 0]:   x̄ = ȳ·[x > 0],  ẏ = ẋ·[x > 0].

    The mask [x > 0] is piecewise constant, so it enters the rules as a constant:
    the second derivative of ReLU is zero everywhere except at the kink x = 0, where
    it does not exist (finite differences across a kink disagree with any rule).
    The mask is computed once, by whichever rule asks first, and kept for the other.
    """

    def forward(self, x):
        # max against a row of zeros, broadcast: the same numbers as max(x, 0), but NumPy runs its vector loop
        return self.xp.maximum(x, self.xp.zeros(x.shape[-1:], x.dtype))

    def mask(self):
        """[x > 0], a constant of the rules."""
        if not hasattr(self, "_mask"):
            self._mask = self.inputs[0].data > 0
        return self._mask

    def vjp(self, gy):
        return (gy * self.mask(),)

    def jvp(self, tx):
        return tx * self.mask()


class Abs(Function):
    """y = |x|.   ∂y/∂x = sign(x) (a constant away from the kink at 0):   x̄ = ȳ·sign x,  ẏ = ẋ·sign x."""

    def forward(self, x):
        return self.xp.abs(x)

    def vjp(self, gy):
        return (gy * self.xp.sign(self.inputs[0].data),)

    def jvp(self, tx):
        return tx * self.xp.sign(self.inputs[0].data)


class Where(Function):
    """y = a where the constant mask c holds, b elsewhere.   ā = ȳ·c,  b̄ = ȳ·(1 - c),  ẏ = c ? ȧ : ḃ."""

    condition: object       # the constant boolean mask (an array of the inputs' module)

    def forward(self, a, b):
        return self.xp.where(self.condition, a, b)

    def vjp(self, gy):
        need_a, need_b = self.needs_input_grad
        return (where(self.condition, gy, 0.0) if need_a else None,
                where(self.condition, 0.0, gy) if need_b else None)

    def jvp(self, ta, tb):
        zero = self.xp.zeros((), self.output.data.dtype)
        return self.xp.where(self.condition, zero if ta is None else ta, zero if tb is None else tb)


class Cast(Function):
    """y = x converted to another float dtype.   x̄ = ȳ converted back,  ẏ = ẋ converted."""

    dtype: object           # the float dtype to convert to

    def forward(self, x):
        return x.astype(self.dtype)

    def vjp(self, gy):
        return (cast(gy, self.inputs[0].dtype),)

    def jvp(self, tx):
        return tx.astype(self.dtype)


# --- the functions users call -----------------------------------------------------------

def add(a, b):
    return Add.apply(a, b)


def sub(a, b):
    return Sub.apply(a, b)


def mul(a, b):
    return Mul.apply(a, b)


def div(a, b):
    return Div.apply(a, b)


def neg(x):
    return Neg.apply(x)


def power(x, p):
    """x ** p for a constant exponent p (a Python number)."""
    if not isinstance(p, (int, float)):
        raise TypeError("power takes a constant (Python number) exponent")
    return Power.apply(x, p=p)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def tanh(x):
    return Tanh.apply(x)


def sigmoid(x):
    return Sigmoid.apply(x)


def relu(x):
    return ReLU.apply(x)


def abs(x):
    return Abs.apply(x)


def where(condition, a, b):
    """Elementwise `a if condition else b`; the condition is a constant boolean array (or Tensor)."""
    condition = unwrap(condition)
    return Where.apply(a, b, condition=condition)


def maximum(a, b):
    """Elementwise max; at ties the gradient goes to `a` (a valid subgradient)."""
    a_data, b_data = unwrap(a), unwrap(b)
    return where(a_data >= b_data, a, b)


def cast(x, dtype):
    return Cast.apply(x, dtype=dtype)
