r"""Three-layer linear networks in the mode picture, plain and residual (Supp. Note 5, Fig S4).

A linear network y = W2 W1 x trained on whitened inputs learns the input-output
correlation Sigma = U S V^T (Saxe, McClelland & Ganguli 2013).  Write the weights
in the singular-vector bases: a^alpha = W1 v^alpha (how hidden units see input
mode alpha) and b^alpha = W2^T u^alpha (how output mode alpha reads the hidden
units).  Because U and V are orthogonal this is just a rotation of the weights,
so gradient descent on (W1, W2) is gradient descent on (A, B), with
A = [a^1 a^2 ...] and B = [b^1 b^2 ...] as columns.  The energy is::

    E = 1/2 sum_alpha (s_alpha - a^alpha . b^alpha)^2 + 1/2 sum_{alpha != beta} (a^alpha . b^beta)^2
      = 1/2 || S - B^T A ||_F^2

and with the residual R = S - B^T A its gradient is::

    dE/dA = -B R          (column alpha: -(s_alpha - a.b) b^alpha + sum_{beta != alpha} (a^alpha.b^beta) b^beta)
    dE/dB = -A R^T

which is Saxe et al.'s
da^alpha/dt = (s_alpha - a^alpha.b^alpha) b^alpha - sum_{gamma != alpha} (a^alpha.b^gamma) b^gamma.

Residual network: W_l -> W_l + I, so the map is (W2 + I)(W1 + I).  In mode
coordinates a^alpha -> a^alpha + v^alpha and b^alpha -> b^alpha + u^alpha (the
hidden layer has the same width as input and output, so v^alpha and u^alpha are
also hidden-space vectors).  The same equations hold for the shifted vectors;
the gradient with respect to the adjustable A, B is unchanged in form.  The
Hessian of the plain net is singular where units coincide (a_i = a_j, b_i = b_j)
or vanish (a_i = 0 or b_i = 0); the residual offsets move these sets to
a = -v, b = -u (linear skips shift singularities, they do not remove them).

What we plot: the *mode strengths* m_alpha = (a^alpha + offset).(b^alpha + offset),
i.e. the end-to-end map's gain on mode alpha, u^alpha^T W_total v^alpha, which is
what must reach s_alpha.  (The paper labels its curves a1, a2; we read them as
these mode strengths.)  Time is counted in iterations of gradient descent, as
in the paper's 0-400 axis.
"""
import numpy as np

from . import flow, toy_figures

# ---------------------------------------------------------------- settings (docs/paper.md §2.2)
S = np.array([3.0, 1.5])                               # singular values s1, s2
ROOT_HALF = 1.0 / np.sqrt(2.0)
U = np.array([[ROOT_HALF, ROOT_HALF], [ROOT_HALF, -ROOT_HALF]])  # columns u1, u2
V = U.copy()                                           # v1 = u1, v2 = u2
N_ITER = 400
# (a) small random start: every weight from N(0, 1e-4^2), learning rate 0.1.
SMALL_INIT_STD = 1e-4
SMALL_INIT_LR = 0.1
SMALL_INIT_SEED = 0
# (b) equal-norm start: plain a-vectors at [1, 1]/sqrt2 and b-vectors at
# [1, -1]/sqrt2 (unit norm each); residual adjustable weights all 0 (so its
# effective vectors v^alpha, u^alpha also have unit norm); learning rate 0.01.
EQUAL_NORM_LR = 0.01
# This plain start has a^1 = a^2, i.e. the two hidden units have identical
# incoming weights (an overlap singularity), and exact gradient descent from it
# converges to the rank-one saddle m = (3, 0).  To show that it is a saddle and
# not a minimum, we also run it from a start nudged by N(0, 1e-6^2) noise.
EQUAL_NORM_NUDGE = 1e-6
NUDGE_SEED = 1
NUDGE_N_ITER = 4000
# "Converged": every mode strength within 10% of its target s_alpha.
CONVERGED_FRACTION = 0.9


def offsets(residual):
    """The fixed parts added to (A, B): zero for plain, (V, U) for residual."""
    return (V, U) if residual else (np.zeros_like(V), np.zeros_like(U))


def unpack(theta):
    return theta[:4].reshape(2, 2), theta[4:].reshape(2, 2)


def energy_and_grad(theta, residual):
    """E = 1/2 ||S - B~^T A~||^2 with A~ = A + offset, and dE/d(A, B)."""
    A, B = unpack(theta)
    A0, B0 = offsets(residual)
    At, Bt = A + A0, B + B0
    R = np.diag(S) - Bt.T @ At                      # R[beta, alpha] = s_alpha delta - b~^beta . a~^alpha
    energy = 0.5 * np.sum(R * R)
    return energy, np.concatenate([(-Bt @ R).ravel(), (-At @ R.T).ravel()])


def mode_strengths(theta, residual):
    """m_alpha = a~^alpha . b~^alpha, the end-to-end gain on mode alpha."""
    A, B = unpack(theta)
    A0, B0 = offsets(residual)
    return np.sum((A + A0) * (B + B0), axis=0)


def initial_weights(setting, residual):
    if setting == "small":
        rng = np.random.default_rng(SMALL_INIT_SEED)       # same draw for plain and residual
        return SMALL_INIT_STD * rng.standard_normal(8)
    if residual:
        return np.zeros(8)                                  # effective vectors = v, u
    p, q = np.array([ROOT_HALF, ROOT_HALF]), np.array([ROOT_HALF, -ROOT_HALF])
    A = np.stack([p, p], axis=1)                            # a^1 = a^2 = p
    B = np.stack([q, q], axis=1)                            # b^1 = b^2 = q
    return np.concatenate([A.ravel(), B.ravel()])


def train(setting, residual, n_iter=N_ITER, nudge=0.0):
    """Gradient descent; returns (iterations, mode strengths per iteration (n, 2))."""
    lr = SMALL_INIT_LR if setting == "small" else EQUAL_NORM_LR
    theta0 = initial_weights(setting, residual)
    theta0 = theta0 + nudge * np.random.default_rng(NUDGE_SEED).standard_normal(theta0.shape)
    times, thetas = flow.descend(lambda th: energy_and_grad(th, residual)[1], theta0, lr, n_iter)
    iterations = np.rint(times / lr).astype(int)
    return iterations, np.array([mode_strengths(th, residual) for th in thetas])


def convergence_iterations(iterations, strengths):
    """Per mode, and for all modes together: first iteration within 10% of s_alpha."""
    close = np.abs(strengths - S) <= (1.0 - CONVERGED_FRACTION) * S
    per_mode = [flow.first_time(iterations, close[:, k]) for k in range(len(S))]
    return per_mode, flow.first_time(iterations, close.all(axis=1))


def run(out_dir, quick=False):
    """Fig S4: both settings, plain and residual; return the measured iterations."""
    n_iter = N_ITER // 4 if quick else N_ITER
    results, curves = {}, {}
    for setting in ("small", "equal_norm"):
        for residual in (False, True):
            name = f"{setting}_{'residual' if residual else 'plain'}"
            iterations, strengths = train(setting, residual, n_iter)
            per_mode, both = convergence_iterations(iterations, strengths)
            results[name] = {"iterations_to_90pct_per_mode": per_mode, "iterations_to_90pct": both,
                             "final_mode_strengths": strengths[-1]}
            curves[name] = {"iteration": iterations, "m1": strengths[:, 0], "m2": strengths[:, 1]}
    iterations, strengths = train("equal_norm", False, NUDGE_N_ITER // (4 if quick else 1), EQUAL_NORM_NUDGE)
    per_mode, both = convergence_iterations(iterations, strengths)
    results["equal_norm_plain_nudged"] = {"iterations_to_90pct_per_mode": per_mode, "iterations_to_90pct": both,
                                          "final_mode_strengths": strengths[-1]}
    path = f"{out_dir}/linear_modes_figS4.png"
    plot(path, curves, results)
    settings = {"s": S, "u": U, "v": V, "n_iter": n_iter, "small_init_std": SMALL_INIT_STD,
                "small_init_lr": SMALL_INIT_LR, "small_init_seed": SMALL_INIT_SEED,
                "equal_norm_lr": EQUAL_NORM_LR, "equal_norm_nudge": EQUAL_NORM_NUDGE,
                "nudge_seed": NUDGE_SEED, "nudge_n_iter": NUDGE_N_ITER, "converged_fraction": CONVERGED_FRACTION}
    toy_figures.save_json(f"{out_dir}/linear_modes.json",
                    {"settings": settings, "results": results, "curves": curves})
    return {"results": results, "figures": [path]}


def plot(path, curves, results):
    fig, axes = toy_figures.figure(2, width=5.0, height=3.8)
    titles = {"small": f"(a) weights ~ N(0, {SMALL_INIT_STD:g}^2), lr {SMALL_INIT_LR:g}",
              "equal_norm": f"(b) equal-norm start, lr {EQUAL_NORM_LR:g}"}
    for ax, setting in zip(axes, ("small", "equal_norm")):
        for kind, ls in (("plain", "-"), ("residual", "--")):
            c = curves[f"{setting}_{kind}"]
            for mode, color in (("m1", "tab:blue"), ("m2", "tab:green")):
                ax.plot(c["iteration"], c[mode], color=color, ls=ls, label=f"{kind}: {mode}")
            toy_figures.mark_time(ax, results[f"{setting}_{kind}"]["iterations_to_90pct"],
                            "gray" if kind == "plain" else "black", f"{kind}: all modes within 10%")
        for s in S:
            ax.axhline(s, color="gray", lw=0.6, ls=":")
        ax.set(xlabel="iteration", ylabel="mode strength  a~ . b~", title=titles[setting])
        ax.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    toy_figures.save_figure(fig, path)


def summary_rows(s):
    """(title, [(quantity, value)]) of a `run` summary, for the command line's table."""
    r = s["results"]
    return "Three-layer linear nets (Fig S4): iterations until both modes are within 10% of s", [
        ("(a) small init, plain", r["small_plain"]["iterations_to_90pct"]),
        ("(a) small init, residual", r["small_residual"]["iterations_to_90pct"]),
        ("(b) equal norms, plain", r["equal_norm_plain"]["iterations_to_90pct"]),
        ("(b) equal norms, plain, nudged by 1e-6", r["equal_norm_plain_nudged"]["iterations_to_90pct"]),
        ("(b) equal norms, residual", r["equal_norm_residual"]["iterations_to_90pct"]),
    ]
