"""The two integrators every toy model shares, and a "when did it get there" helper.

Learning by gradient descent on an energy E(theta) is a discretisation of the
gradient flow

    d theta / dt = -grad E(theta).

* `descend` is that discretisation itself: theta <- theta - lr * g(theta), the
  forward-Euler step of size lr.  It is what a learning rule does, so it is used
  whenever a model is specified by a learning rate (Fig S4) or when the gradient
  is a noisy sample (online SGD).  One step advances time by lr, so
  "time" = lr * number of steps and runs with different learning rates can be
  compared on the same axis.
* `gradient_flow` integrates the flow exactly (to a tolerance) with an adaptive
  stiff solver.  Plateaus are long stretches where nothing happens, and some
  toys (the hyper-residual net) have gradients of 10^13 next to gradients of
  10^-9; a fixed step would be either unstable or hopelessly slow there.
"""
import numpy as np
from scipy.integrate import solve_ivp


def descend(grad, theta0, lr, n_steps, record_every=1):
    """Run n_steps of theta <- theta - lr * grad(theta).

    Returns (times, thetas): times = lr * step for the recorded steps (the first
    record is the start), thetas has one row per record.  `grad` may be noisy
    (a closure over a random generator): this loop does not care.
    """
    theta = np.array(theta0, dtype=float)
    steps, thetas = [0], [theta.copy()]
    for step in range(1, n_steps + 1):
        theta = theta - lr * grad(theta)
        if step % record_every == 0:
            steps.append(step)
            thetas.append(theta.copy())
    return lr * np.array(steps, dtype=float), np.array(thetas)


def gradient_flow(grad, theta0, t_end, times=None, rtol=1e-8, atol=1e-12):
    """Integrate d theta/dt = -grad(theta) from t = 0 to t_end.

    Returns (times, thetas) at the requested `times` (default: 400 points spread
    evenly in t).  LSODA switches between a non-stiff and a stiff method by
    itself, which is what both plateaus and exploding hyper-residual products need.
    """
    if times is None:
        times = np.linspace(0.0, t_end, 400)
    sol = solve_ivp(lambda t, th: -grad(th), (0.0, t_end), np.array(theta0, dtype=float),
                    method="LSODA", t_eval=times, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"gradient flow failed: {sol.message}")
    return sol.t, sol.y.T


def first_time(times, reached):
    """The first time at which the boolean array `reached` is true, or None if never.

    None (JSON null) rather than inf, so that "did not happen within the run" is
    explicit in the saved numbers.
    """
    reached = np.asarray(reached)
    if not reached.any():
        return None
    return float(np.asarray(times)[np.argmax(reached)])
