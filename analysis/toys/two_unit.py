"""Two hidden units learning from a teacher: overlap and elimination singularities (Fig 2).

The student y(x) = w_a phi(J_a.x) + w_b phi(J_b.x), phi(s) = erf(s/sqrt 2), learns a teacher of the same form
on Gaussian inputs; its generalisation error and gradient are exact closed forms (Saad & Solla 1995), so
gradient flow is the exact averaged dynamics and online SGD adds noise around it. Figures are drawn in the
reduced coordinates h = |J_a - J_b|^2 / 2 (overlap) and z = (w_a - w_b)/(w_a + w_b) (elimination at z = ±1),
with a skip variant beyond the paper. The derivations, the 2-D slice the field is drawn on and the settings'
reasons: docs/toys.md ("Derivations of the two-unit model").
"""
import functools

import numpy as np
from scipy.interpolate import RegularGridInterpolator
from scipy.optimize import minimize
from scipy.special import erf

from . import flow, toy_figures

# ---------------------------------------------------------------- settings
# One input dimension: Q above is then a number, so h = 0 always has a stable
# segment.  (We checked n = 2: a teacher made of two distinct directions gives
# an indefinite Q, h = 0 is then a saddle everywhere and there is no Milnor
# attractor to see.)
INPUT_DIM = 1
# Teacher: a strong unit plus a weaker one of opposite sign and smaller gain.
# Its own z* = (4 - (-1)) / (4 + (-1)) = 5/3 lies beyond the elimination line,
# which makes the student's |z| < 1 segment of h = 0 the stable one; its
# h* = 1/2 (2 - 0.5)^2 = 1.125 puts the global minimum inside the plotted window.
TEACHER_W = np.array([4.0, -1.0])
TEACHER_J = np.array([[2.0], [0.5]])
# Window and resolution of the (h, z) field (the paper's Fig 2b window).
H_GRID = np.linspace(0.0, 3.0, 46)
Z_GRID = np.linspace(-2.0, 2.0, 61)
# Near-singularity plateau: a start just outside the grey basin (its boundary
# at h = 1 lies near z = 0.67 for the exact 4-D flow).  The exact flow comes
# close to h = 0 at the elimination line z = 1, crawls, then escapes.
NEAR_START = (1.0, 0.68)         # (h0, z0); v and w completed as on the slice
NEAR_T_END = 4000.0
# On-singularity plateau: a start inside the basin.  The exact flow settles on
# the stable segment (at z ~ 0.78) and never leaves.  Online SGD (one fresh
# sample per step, Gaussian label noise) keeps h slightly above 0, and the
# noise-driven drift along the segment carries it over the elimination line
# z = 1 after a few thousand time units.  With less noise (LABEL_NOISE = 0.2)
# the drift points inwards and the plateau outlasts any run we tried; with
# more (>= 0.5) the second unit is eliminated for good (w_b = J_b = 0).  The
# escape also depends on the start: from z0 = 0.5 or 0.55 these same settings
# stay on the plateau past t = 10000.
ON_START = (1.0, 0.60)
SGD_LR = 0.1                     # one step = 0.1 time units
SGD_BATCH = 1                    # online learning
LABEL_NOISE = 0.25               # std of the Gaussian noise on the teacher's outputs
ON_T_END = 10000.0
SGD_SEED = 0
RECORD_DT = 5.0                  # time between recorded SGD points
SMOOTH_T = 200.0                 # SGD losses are averaged over this trailing window
# Skip version: fixed skip weights, v_a s_a + v_b s_b = 4 * 0.25 - 1 * 1.0 = 0.
SKIP = np.array([[0.25], [1.0]])
# Plain vs skip are compared from ON_START and from a start right on the
# overlap line (J_a = J_b up to h = 1e-3), both with the exact averaged flow.
ON_LINE_START = (1e-3, 0.30)
SKIP_T_END = 3000.0
# "Learned": generalisation error below half that of the best single unit
# (L* = 1.96e-3 for this teacher), which needs the second teacher unit.
LEARNED_FRACTION = 0.5
# "Near the overlap line": h below this (h of the SGD run is averaged over SMOOTH_T).
H_NEAR = 0.5


# ---------------------------------------------------------------- exact averages
def phi(s):
    return erf(s / np.sqrt(2.0))


def dphi(s):
    """phi'(s) = sqrt(2/pi) exp(-s^2/2)."""
    return np.sqrt(2.0 / np.pi) * np.exp(-0.5 * s * s)


def kernel(a, b):
    """k(a, b) = E[phi(a.x) phi(b.x)] for x ~ N(0, I); broadcasts over leading axes."""
    ab = np.sum(a * b, axis=-1)
    A = 1.0 + np.sum(a * a, axis=-1)
    B = 1.0 + np.sum(b * b, axis=-1)
    return (2.0 / np.pi) * np.arcsin(ab / np.sqrt(A * B))


def kernel_grad(a, b):
    """dk/da = (2/pi) (b - (a.b / A) a) / sqrt(A B - (a.b)^2), A = 1+|a|^2, B = 1+|b|^2."""
    ab = np.sum(a * b, axis=-1, keepdims=True)
    A = 1.0 + np.sum(a * a, axis=-1, keepdims=True)
    B = 1.0 + np.sum(b * b, axis=-1, keepdims=True)
    return (2.0 / np.pi) * (b - (ab / A) * a) / np.sqrt(A * B - ab * ab)


def mixed(a, r):
    """m(a, r) = E[phi(a.x) (r.x)] = sqrt(2/pi) (a.r) / sqrt(1 + |a|^2)."""
    A = 1.0 + np.sum(a * a, axis=-1)
    return np.sqrt(2.0 / np.pi) * np.sum(a * r, axis=-1) / np.sqrt(A)


def mixed_grad(a, r):
    """dm/da = sqrt(2/pi) (r - (a.r / A) a) / sqrt(A), A = 1 + |a|^2."""
    ar = np.sum(a * r, axis=-1, keepdims=True)
    A = 1.0 + np.sum(a * a, axis=-1, keepdims=True)
    return np.sqrt(2.0 / np.pi) * (r - (ar / A) * a) / np.sqrt(A)


def unpack(theta):
    """theta = (w_a, w_b, J_a (n values), J_b (n values)) -> (w, J) with J of shape (2, n)."""
    theta = np.asarray(theta, dtype=float)
    return theta[:2], theta[2:].reshape(2, -1)


def pack(w, J):
    return np.concatenate([np.ravel(w), np.ravel(J)])


def loss_and_grad(theta, skip=None):
    """Exact generalisation error L(theta) and its gradient, in closed form.

    `skip` (shape (2, n), rows s_a and s_b) gives the skip version; None is the plain net.
    """
    w, J = unpack(theta)
    U = np.vstack([J, TEACHER_J])                # all four units
    c = np.concatenate([w, -TEACHER_W])          # their signed output weights
    G = kernel(U[:, None, :], U[None, :, :])     # G_ij = k(U_i, U_j)
    D = kernel_grad(U[:, None, :], U[None, :, :])  # D_ij = dk/da at (U_i, U_j)
    loss = 0.5 * c @ G @ c
    grad_w = (G @ c)[:2]
    grad_J = c[:2, None] * np.einsum("ijn,j->in", D[:2], c)
    if skip is not None:
        r = w @ skip                             # total linear path r = w_a s_a + w_b s_b
        m_r = mixed(U, r)                        # m(U_j, r) for all four units
        loss += c @ m_r + 0.5 * r @ r
        grad_w += m_r[:2] + np.array([c @ mixed(U, s_i) + r @ s_i for s_i in skip])
        grad_J += c[:2, None] * mixed_grad(J, r)
    return loss, pack(grad_w, grad_J)


def loss(theta, skip=None):
    return loss_and_grad(theta, skip)[0]


def sampled_loss_and_grad(theta, x, noise, skip=None):
    """Monte Carlo estimate of loss and gradient on a batch x (shape (B, n)).

    Labels are T(x) + noise.  Per sample, with e = y - label and f_i the output
    of unit i (phi(J_i.x), plus s_i.x in the skip net):
    dl/dw_i = e f_i and dl/dJ_i = e w_i phi'(J_i.x) x.
    The returned loss is 1/2 mean(e^2); on average it exceeds L by 1/2 E[noise^2].
    """
    w, J = unpack(theta)
    pre = x @ J.T                                   # (B, 2) pre-activations
    features = phi(pre) if skip is None else phi(pre) + x @ skip.T
    err = features @ w - (phi(x @ TEACHER_J.T) @ TEACHER_W + noise)
    grad_w = np.mean(err[:, None] * features, axis=0)
    grad_J = np.einsum("b,bi,bn->in", err, w * dphi(pre), x) / len(x)
    return 0.5 * np.mean(err * err), pack(grad_w, grad_J)


def sgd_gradient(rng, skip=None):
    """A noisy gradient oracle for `flow.descend`: fresh inputs and label noise at every call."""
    def grad(theta):
        x = rng.standard_normal((SGD_BATCH, INPUT_DIM))
        noise = LABEL_NOISE * rng.standard_normal(SGD_BATCH)
        return sampled_loss_and_grad(theta, x, noise, skip)[1]
    return grad


def exact_gradient(skip=None):
    return lambda theta: loss_and_grad(theta, skip)[1]


# ---------------------------------------------------------------- reduced coordinates
def overlap_coords(theta):
    """(h, z) of one parameter vector or of an array of them (one per row)."""
    theta = np.atleast_2d(theta)
    n = (theta.shape[1] - 2) // 2
    u = theta[:, 2:2 + n] - theta[:, 2 + n:]
    h = 0.5 * np.sum(u * u, axis=1)
    z = (theta[:, 0] - theta[:, 1]) / (theta[:, 0] + theta[:, 1])
    return h, z


def reduced_velocity(theta, skip=None):
    """(dh/dt, dz/dt) under the exact gradient flow, by the chain rule."""
    w, J = unpack(theta)
    dw, dJ = unpack(-loss_and_grad(theta, skip)[1])
    h_dot = (J[0] - J[1]) @ (dJ[0] - dJ[1])
    z_dot = 2.0 * (w[1] * dw[0] - w[0] * dw[1]) / (w[0] + w[1]) ** 2
    return h_dot, z_dot


@functools.lru_cache(maxsize=None)
def best_single_unit():
    """(w*, v*, L*): the best fit of the teacher by ONE unit w phi(v.x).

    These are the values (w, v) take on the overlap line, and L* is the height of
    the plateau.  Found by BFGS from a few starts; sign fixed to w* > 0 (phi is
    odd, so (w, v) and (-w, -v) are the same function).  Cached: call
    best_single_unit.cache_clear() after changing the teacher.
    """
    def objective(p):
        theta = pack([p[0], 0.0], np.vstack([p[1:], p[1:]]))     # w_b = 0: one unit
        L, g = loss_and_grad(theta)
        return L, np.concatenate([[g[0]], unpack(g)[1][0]])
    best = None
    for scale in (0.5, 1.0, 2.0):
        p0 = np.concatenate([[TEACHER_W.sum() * scale], TEACHER_J.mean(axis=0)])
        res = minimize(objective, p0, jac=True, method="BFGS", options={"gtol": 1e-12})
        if best is None or res.fun < best.fun:
            best = res
    w_star, v_star = best.x[0], best.x[1:]
    if w_star < 0:
        w_star, v_star = -w_star, -v_star
    return float(w_star), tuple(float(v) for v in v_star), float(best.fun)


def slice_point(h, z):
    """The full weights at (h, z) on the 2-D slice of docs/toys.md ("How the 2-D (h, z) field is made")."""
    v = np.array(best_single_unit()[1])
    u = np.sqrt(2.0 * h) * np.ones(INPUT_DIM) / np.sqrt(INPUT_DIM)
    alpha, beta = (1.0 + z) / 2.0, (1.0 - z) / 2.0      # w_a = alpha w, w_b = beta w
    J_a, J_b = v + beta * u, v - alpha * u              # so that alpha J_a + beta J_b = v
    # optimal w = E[g T] / E[g^2], g = alpha phi(J_a.x) + beta phi(J_b.x)
    g_g = alpha**2 * kernel(J_a, J_a) + 2 * alpha * beta * kernel(J_a, J_b) + beta**2 * kernel(J_b, J_b)
    g_T = sum(t_w * (alpha * kernel(J_a, t_J) + beta * kernel(J_b, t_J))
              for t_w, t_J in zip(TEACHER_W, TEACHER_J))
    w = g_T / g_g
    return pack([alpha * w, beta * w], np.vstack([J_a, J_b]))


def flow_field(h_grid, z_grid):
    """(dh/dt, dz/dt) on the slice, arrays of shape (len(z_grid), len(h_grid))."""
    h_dot = np.zeros((len(z_grid), len(h_grid)))
    z_dot = np.zeros_like(h_dot)
    for i, z in enumerate(z_grid):
        for j, h in enumerate(h_grid):
            h_dot[i, j], z_dot[i, j] = reduced_velocity(slice_point(h, z))
    return h_dot, z_dot


def stable_basin(h_grid, z_grid, h_dot, z_dot, path_length=12.0, step=0.01, h_end=0.02):
    """Boolean grid: does the streamline of the 2-D field from (h, z) end on the stable segment?

    Whether a point is in the basin depends only on the shape of its streamline,
    not on how fast it is followed, so we follow the unit vector of the field
    (arc-length steps, measured in window units) with the shared Euler
    integrator, all grid points at once.
    """
    scale = np.array([np.ptp(h_grid), np.ptp(z_grid)])
    fields = [RegularGridInterpolator((z_grid, h_grid), f, bounds_error=False, fill_value=0.0)
              for f in (h_dot, z_dot)]

    def minus_unit_velocity(flat):
        P = np.clip(flat.reshape(-1, 2), [h_grid[0], z_grid[0]], [h_grid[-1], z_grid[-1]])
        V = np.stack([f(P[:, ::-1]) for f in fields], axis=1) / scale
        speed = np.linalg.norm(V, axis=1, keepdims=True)
        # on h = 0 the field vanishes (up to rounding): stop there instead of
        # following the direction of a 1e-17 rounding error
        V = np.where(speed > 1e-12, V / np.maximum(speed, 1e-300), 0.0)
        return -(V * scale).ravel()
    H, Z = np.meshgrid(h_grid, z_grid)
    start = np.stack([H.ravel(), Z.ravel()], axis=1).ravel()
    n_steps = int(path_length / step)
    _, path = flow.descend(minus_unit_velocity, start, step, n_steps, record_every=n_steps)
    end = path[-1].reshape(-1, 2)
    return ((end[:, 0] < h_end) & (np.abs(end[:, 1]) < 1.0)).reshape(H.shape)


# ---------------------------------------------------------------- experiments
def trailing_mean(times, values, window):
    """Mean of `values` over the trailing time window (for noisy SGD records)."""
    k = max(1, int(round(window / (times[1] - times[0]))))
    csum = np.cumsum(np.concatenate([[0.0], values]))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - k, 0)
    return (csum[idx] - csum[lo]) / (idx - lo)


def learned_loss():
    return LEARNED_FRACTION * best_single_unit()[2]


def exact_run(start, t_end, skip=None, n_points=801):
    """Exact averaged gradient flow from a slice point: time series of h, z, loss."""
    times, thetas = flow.gradient_flow(exact_gradient(skip), slice_point(*start), t_end,
                                       times=np.linspace(0.0, t_end, n_points))
    return _series(times, thetas, skip)


def sgd_run(start, t_end, skip=None, seed=SGD_SEED):
    """Online SGD from a slice point, with the module's learning rate and label noise."""
    n_steps = int(round(t_end / SGD_LR))
    every = max(1, int(round(RECORD_DT / SGD_LR)))
    times, thetas = flow.descend(sgd_gradient(np.random.default_rng(seed), skip),
                                 slice_point(*start), SGD_LR, n_steps, record_every=every)
    return _series(times, thetas, skip)


def _series(times, thetas, skip):
    h, z = overlap_coords(thetas)
    losses = np.array([loss(th, skip) for th in thetas])
    return {"t": times, "h": h, "z": z, "loss": losses, "theta": thetas,
            "t_learned": flow.first_time(times, losses < learned_loss())}


def plateau(run_, smooth=0.0):
    """When a run came near the overlap line (h < H_NEAR) and when it left it again.

    Returns (t_enter, t_exit); None where that did not happen.  For SGD runs h is
    first averaged over `smooth` time units, so one noisy kick does not count.
    """
    t = run_["t"]
    h = trailing_mean(t, run_["h"], smooth) if smooth else run_["h"]
    t_enter = flow.first_time(t, h < H_NEAR)
    if t_enter is None:
        return None, None
    return t_enter, flow.first_time(t, (t > t_enter) & (h > H_NEAR))


def closest_approach(run_):
    """(t, h, z) where the run came closest to h = 0 before it learned."""
    end = np.searchsorted(run_["t"], run_["t_learned"]) if run_["t_learned"] is not None else None
    k = int(np.argmin(run_["h"][:end]))
    return {"t": run_["t"][k], "h": run_["h"][k], "z": run_["z"][k]}


def run(out_dir, quick=False):
    """Make the Fig 2 reproduction and the skip comparison; return the measured numbers."""
    scale = 0.1 if quick else 1.0          # quick: short runs, coarse grid (for tests)
    h_grid = H_GRID[::3] if quick else H_GRID
    z_grid = Z_GRID[::3] if quick else Z_GRID
    w_star, v_star, L_star = best_single_unit()
    h_dot, z_dot = flow_field(h_grid, z_grid)
    basin = stable_basin(h_grid, z_grid, h_dot, z_dot)
    near = exact_run(NEAR_START, scale * NEAR_T_END)
    on_gd = exact_run(ON_START, scale * ON_T_END)
    on_sgd = sgd_run(ON_START, scale * ON_T_END)
    skip_runs = {f"{kind}_from_{name}": exact_run(start, scale * SKIP_T_END, skip=skip)
                 for name, start in [("on_start", ON_START), ("on_line", ON_LINE_START)]
                 for kind, skip in [("plain", None), ("skip", SKIP)]}

    fig2_path = f"{out_dir}/two_unit_fig2.png"
    skip_path = f"{out_dir}/two_unit_skip.png"
    plot_fig2(fig2_path, h_grid, z_grid, h_dot, z_dot, basin, near, on_gd, on_sgd)
    plot_skip(skip_path, skip_runs)

    sgd_enter, sgd_exit = plateau(on_sgd, SMOOTH_T)
    summary = {
        "best_single_unit": {"w": w_star, "v": v_star[0] if INPUT_DIM == 1 else v_star, "loss_L*": L_star},
        "loss_learned": learned_loss(),
        "near_singularity_exact": {"t_learned": near["t_learned"], "closest_to_h0": closest_approach(near)},
        "on_singularity_exact": {"t_learned": on_gd["t_learned"], "final_h": on_gd["h"][-1],
                                 "final_z": on_gd["z"][-1], "final_loss": on_gd["loss"][-1]},
        "on_singularity_sgd": {"t_near_line": sgd_enter, "t_left_line": sgd_exit,
                               "t_crossed_z=1": flow.first_time(on_sgd["t"], on_sgd["z"] > 1.0)},
        "skip_comparison_exact": {name: {"t_learned": r["t_learned"], "final_loss": r["loss"][-1],
                                         "final_h": r["h"][-1]} for name, r in skip_runs.items()},
        "t_end": {"near": scale * NEAR_T_END, "on": scale * ON_T_END, "skip": scale * SKIP_T_END},
    }
    settings = {"input_dim": INPUT_DIM, "teacher_w": TEACHER_W, "teacher_J": TEACHER_J,
                "near_start": NEAR_START, "on_start": ON_START, "on_line_start": ON_LINE_START,
                "sgd_lr": SGD_LR, "sgd_batch": SGD_BATCH, "label_noise": LABEL_NOISE,
                "sgd_seed": SGD_SEED, "skip": SKIP, "learned_fraction": LEARNED_FRACTION,
                "h_near": H_NEAR, "smooth_t": SMOOTH_T, "quick": quick}

    def thin(run_):
        step = max(1, len(run_["t"]) // 400)
        return {k: run_[k][::step] for k in ("t", "h", "z", "loss")}
    runs = {"near_exact": near, "on_exact": on_gd, "on_sgd": on_sgd, **skip_runs}
    toy_figures.save_json(f"{out_dir}/two_unit.json", {
        "settings": settings, "summary": summary,
        "field": {"h": h_grid, "z": z_grid, "h_dot": h_dot, "z_dot": z_dot, "basin": basin.astype(int)},
        "runs": {name: thin(r) for name, r in runs.items()},
    })
    summary["figures"] = [fig2_path, skip_path]
    return summary


# ---------------------------------------------------------------- figures
NEAR_COLOR, ON_COLOR, SKIP_COLOR = "black", "tab:blue", "tab:orange"


def plot_fig2(path, h_grid, z_grid, h_dot, z_dot, basin, near, on_gd, on_sgd):
    fig, axes = toy_figures.grid(2, 2, width=5.6, height=4.2)
    ax = axes[0, 0]
    speed = np.clip(np.log10(np.hypot(h_dot, z_dot) + 1e-12), -5, 0)
    mesh = ax.contourf(h_grid, z_grid, speed, levels=np.linspace(-5, 0, 21), cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="log10 speed |d(h, z)/dt|")
    ax.contourf(h_grid, z_grid, basin.astype(float), levels=[0.5, 1.5], colors="white", alpha=0.4)
    ax.streamplot(h_grid, z_grid, h_dot, z_dot, color="white", density=1.1, linewidth=0.5, arrowsize=0.7)
    for z_line in (-1.0, 1.0):
        ax.axhline(z_line, color="tab:red", ls="--", lw=1)
    ax.plot([0, 0], [-1, 1], color="darkorange", lw=8, solid_capstyle="butt", clip_on=False,
            zorder=6, label="stable segment of h = 0")
    h_t = 0.5 * np.sum((TEACHER_J[0] - TEACHER_J[1]) ** 2)
    z_t = (TEACHER_W[0] - TEACHER_W[1]) / TEACHER_W.sum()
    ax.plot(h_t, z_t, "*", color="gold", ms=14, mec="k", label="teacher (global minimum)")
    ax.plot(on_sgd["h"], on_sgd["z"], color=ON_COLOR, lw=0.5, alpha=0.8, label="online SGD from blue dot")
    ax.plot(on_gd["h"], on_gd["z"], color=ON_COLOR, lw=2.5, ls="--", label="exact flow from blue dot")
    ax.plot(near["h"], near["z"], color=NEAR_COLOR, lw=2, label="exact flow from black dot")
    ax.plot(*NEAR_START, "o", color=NEAR_COLOR, ms=8, mec="white")
    ax.plot(*ON_START, "o", color=ON_COLOR, ms=8, mec="white")
    ax.set(xlim=(h_grid[0], h_grid[-1]), ylim=(z_grid[0], z_grid[-1]),
           xlabel="h = |J_a - J_b|^2 / 2   (overlap)", ylabel="z = (w_a - w_b)/(w_a + w_b)",
           title="(b) averaged flow in (h, z); pale = basin of stable segment")
    ax.legend(loc="lower right", fontsize=7, framealpha=0.85)

    ax = axes[0, 1]
    ax.plot(near["t"], near["h"], color=NEAR_COLOR, label="h")
    ax.plot(near["t"], near["z"], color=NEAR_COLOR, ls="--", label="z")
    ax.axhline(1.0, color="tab:red", ls=":", lw=1, label="elimination line z = 1")
    toy_figures.mark_time(ax, near["t_learned"], "gray", "learned (L < L*/2)")
    ax.set(xlabel="time", ylabel="h, z", title="(c) near-singularity plateau: exact flow, black dot")
    ax.legend(fontsize=8)

    ax = axes[1, 0]
    ax.plot(on_sgd["t"], on_sgd["h"], color=ON_COLOR, lw=0.7, label="h, online SGD")
    ax.plot(on_sgd["t"], on_sgd["z"], color="tab:cyan", lw=0.7, label="z, online SGD")
    ax.plot(on_gd["t"], on_gd["h"], color=ON_COLOR, ls="--", lw=2, label="h, exact flow")
    ax.plot(on_gd["t"], on_gd["z"], color="tab:cyan", ls="--", lw=2, label="z, exact flow")
    ax.axhline(1.0, color="tab:red", ls=":", lw=1)
    ax.set(xlabel="time (= learning rate x steps)", ylabel="h, z",
           title="(d) on-singularity plateau: blue dot")
    ax.legend(fontsize=7, ncol=2, loc="upper left")

    ax = axes[1, 1]
    ax.semilogy(near["t"], near["loss"], color=NEAR_COLOR, label="near-singularity (black dot)")
    ax.semilogy(on_gd["t"], on_gd["loss"], color=ON_COLOR, ls="--", label="on-singularity (blue dot)")
    ax.axhline(best_single_unit()[2], color="gray", ls=":", lw=1, label="L* = best single unit")
    ax.axhline(learned_loss(), color="gray", ls="-.", lw=1, label="'learned' = L*/2")
    ax.set(xlabel="time", ylabel="generalisation error L", title="(e) exact-flow losses: plateaus at L*")
    ax.legend(fontsize=7)
    fig.tight_layout()
    toy_figures.save_figure(fig, path)


def plot_skip(path, skip_runs):
    fig, axes = toy_figures.figure(3, width=4.5, height=3.7)
    for name, r in skip_runs.items():
        color = SKIP_COLOR if name.startswith("skip") else ON_COLOR
        ls = "-" if name.endswith("on_start") else "--"
        label = name.replace("_from_", " from ").replace("on_start", "blue dot").replace("on_line", "h = 0.001")
        axes[0].semilogy(r["t"], r["loss"], color=color, ls=ls, label=label)
        toy_figures.mark_time(axes[0], r["t_learned"], color)
        axes[1].plot(r["t"], r["h"], color=color, ls=ls, label=label)
        axes[2].plot(r["t"], r["z"], color=color, ls=ls, label=label)
    axes[0].axhline(learned_loss(), color="gray", ls=":", lw=1, label="'learned' = L*/2")
    axes[0].set(xlabel="time", ylabel="generalisation error L", title="same teacher, starts and flow")
    axes[0].legend(fontsize=7)
    axes[1].set(xlabel="time", ylabel="h = |J_a - J_b|^2 / 2", title="plain: stuck at h = 0")
    axes[2].axhline(1.0, color="tab:red", ls=":", lw=1)
    axes[2].set(xlabel="time", ylabel="z = (w_a - w_b)/(w_a + w_b)", title="skip: z is identifiable")
    fig.tight_layout()
    toy_figures.save_figure(fig, path)


def summary_rows(s):
    """(title, [(quantity, value)]) of a `run` summary, for the command line's table."""
    skip = s["skip_comparison_exact"]
    near, on, sgd = s["near_singularity_exact"], s["on_singularity_exact"], s["on_singularity_sgd"]
    return "Two hidden units (Fig 2); 'learned' = loss below L*/2 = %.3g" % s["loss_learned"], [
        ("plateau height L* (best single unit)", s["best_single_unit"]["loss_L*"]),
        ("near-singularity, exact flow: time learned", near["t_learned"]),
        ("  closest approach to h = 0 (h)", near["closest_to_h0"]["h"]),
        ("on-singularity, exact flow: time learned", on["t_learned"]),
        ("  final (h, z)", "(%.2g, %.3f)" % (on["final_h"], on["final_z"])),
        ("on-singularity, online SGD: crossed z = 1 at", sgd["t_crossed_z=1"]),
        ("  left the overlap line (h > 0.5) at", sgd["t_left_line"]),
        ("plain from blue dot: time learned", skip["plain_from_on_start"]["t_learned"]),
        ("skip from blue dot: time learned", skip["skip_from_on_start"]["t_learned"]),
        ("plain from h = 0.001: time learned", skip["plain_from_on_line"]["t_learned"]),
        ("skip from h = 0.001: time learned", skip["skip_from_on_line"]["t_learned"]),
    ]
