r"""Deep linear nets with decoupled modes: plain, residual, hyper-residual (Supp. Note 5, Fig S5).

When orthogonal matrices diagonalise every layer (and, for the residual nets,
consecutive ones line up), a deep linear network splits into independent
modes.  For one mode with target strength s and per-layer strengths a_l,
l = 1..L, the three architectures differ only by a fixed offset o_l added to
each layer (the identity skips)::

    plain           E = 1/2 (s - prod_l a_l)^2               o_l = 0
    residual        E = 1/2 (s - prod_l (a_l + 1))^2         o_l = 1
    hyper-residual  E = 1/2 (s - prod_l (a_l + l))^2         o_l = l   (l identity skips summed)

With f_l = a_l + o_l (the layer's total gain) and u = prod_l f_l (the end-to-end map)::

    dE/da_k          = -(s - u) prod_{l != k} f_l
    d2E/da_j da_k    = (prod_{l != j} f_l)(prod_{l != k} f_l) - (s - u) [j != k] prod_{l != j,k} f_l

The minima are the whole surface u = s.  The only other critical points have
grad u = 0, i.e. at least two factors f_l = 0; for L = 2 that is the single
point a = -o: the saddle sits at (0, 0) (plain), (-1, -1) (residual) and
(-1, -2) (hyper-residual).  The skips move it, they do not remove it (linear
nets only shift their singularities), but they move it away from where
training starts: a small initialisation a_l ~ 0 puts the plain net right on its
saddle (u ~ 0, gradient ~ prod of small numbers), the residual net at u = 1 and
the hyper-residual net at u = L!.

Time.  We integrate the gradient flow da/dt = -dE/da exactly (adaptive stiff
solver), so "time" is learning rate x number of steps in the small-step limit.
A fixed learning rate cannot serve all three nets: at a ~ 0 the hyper-residual
net's Hessian has an eigenvalue near (L!)^2 * sum 1/l^2, so gradient descent
diverges unless lr < 2 / lambda_max ~ 1e-13, while the plain net's Hessian is
~ 0.  We report that largest stable learning rate at the start of each run.
"""
import numpy as np
from scipy.optimize import root

from . import flow, toy_figures

# ---------------------------------------------------------------- settings
ARCHITECTURES = ("plain", "residual", "hyperres")
# Phase portraits (Fig S5a): two layers, over [-2, 2]^2.
PORTRAIT_S = 2.0                 # target of the portraits (the saddles do not depend on it)
PORTRAIT_RANGE = (-2.0, 2.0)
# Trajectories (Fig S5b): ten layers, target s = 2 (the paper's axis suggests ~2).
DEPTH = 10
TARGET = 2.0
# Initial adjustable weights: a_l = INIT_SCALE * |xi_l|, xi ~ N(0, 1), the same
# draw for all three nets.  Positive so that the plain net's product starts
# positive (a negative product must first pass through u = 0, a second saddle);
# 0.4 is small enough that the plain net starts near its saddle (u0 ~ 1e-6)
# yet escapes within T_END, so all three times are finite.
INIT_SCALE = 0.4
INIT_SEED = 0
T_END = 1e5
# Converged: u within 10% of s (from below for plain and residual, from above
# for hyper-residual, whose u starts at ~ L!).
CONVERGED_FRACTION = 0.9


def offsets(arch, depth):
    """o_l for l = 1..depth."""
    layers = np.arange(1, depth + 1, dtype=float)
    return {"plain": 0.0 * layers, "residual": 1.0 + 0.0 * layers, "hyperres": layers}[arch]


def products_except(f):
    """prod_{l != k} f_l for every k (prefix x suffix products: no division, works at f_k = 0)."""
    prefix = np.concatenate([[1.0], np.cumprod(f[:-1])])
    suffix = np.concatenate([np.cumprod(f[::-1][:-1])[::-1], [1.0]])
    return prefix * suffix


def energy(a, off, s):
    return 0.5 * (s - np.prod(a + off)) ** 2


def gradient(a, off, s):
    """dE/da_k = -(s - u) prod_{l != k} f_l."""
    f = a + off
    return -(s - np.prod(f)) * products_except(f)


def hessian(a, off, s):
    """d2E/da_j da_k = g_j g_k - (s - u) prod_{l != j, k} f_l (off-diagonal), with g = grad u."""
    f = a + off
    g = products_except(f)                       # du/da
    n = len(f)
    second = np.zeros((n, n))                    # d2u/da_j da_k
    for j in range(n):
        others = products_except(np.delete(f, j))   # prod_{l != j, k} f_l for each k != j
        second[j] = np.insert(others, j, 0.0)        # d2u/da_j^2 = 0: u is linear in each a_j
    return np.outer(g, g) - (s - np.prod(f)) * second


def critical_points(arch, s=PORTRAIT_S, n_starts=9, tol=1e-10):
    """All critical points of the two-layer energy reached by Newton-type root
    finding on the gradient from a grid of starts over the portrait window,
    each with its Hessian eigenvalues.  Returns a list of (point, eigenvalues)."""
    off = offsets(arch, 2)
    found = []
    for a1 in np.linspace(*PORTRAIT_RANGE, n_starts):
        for a2 in np.linspace(*PORTRAIT_RANGE, n_starts):
            sol = root(gradient, [a1, a2], args=(off, s), jac=hessian)
            if not sol.success or np.linalg.norm(gradient(sol.x, off, s)) > tol:
                continue
            found.append((sol.x, np.linalg.eigvalsh(hessian(sol.x, off, s))))
    return found


def saddles(arch, s=PORTRAIT_S):
    """The critical points that are not minima (Hessian eigenvalues of both signs), deduplicated."""
    unique = []
    for point, eig in critical_points(arch, s):
        if eig.min() < -1e-8 and eig.max() > 1e-8:
            if not any(np.allclose(point, q, atol=1e-6) for q, _ in unique):
                unique.append((point, eig))
    return unique


def initial_weights(depth=DEPTH):
    return INIT_SCALE * np.abs(np.random.default_rng(INIT_SEED).standard_normal(depth))


def trajectory(arch, depth=DEPTH, s=TARGET, t_end=T_END, n_points=600):
    """Exact gradient flow of the depth-layer mode, recorded at log-spaced times.

    Returns times, u(t) and the largest Hessian eigenvalue lambda_max(t)
    (gradient descent with a fixed learning rate lr is stable only while lr < 2 / lambda_max).
    """
    off = offsets(arch, depth)
    times = np.concatenate([[0.0], np.geomspace(1e-15, t_end, n_points)])
    t, a = flow.gradient_flow(lambda x: gradient(x, off, s), initial_weights(depth), t_end,
                              times=times, rtol=1e-9, atol=1e-14)
    lam = np.array([np.abs(np.linalg.eigvalsh(hessian(x, off, s))).max() for x in a])
    return t, np.prod(a + off, axis=1), lam


def time_to_converge(t, u, s=TARGET):
    return flow.first_time(t, np.abs(u - s) <= (1.0 - CONVERGED_FRACTION) * s)


def max_stable_lr(arch, depth=DEPTH, s=TARGET):
    """2 / largest Hessian eigenvalue at the start: above it, gradient descent diverges."""
    lam = np.abs(np.linalg.eigvalsh(hessian(initial_weights(depth), offsets(arch, depth), s))).max()
    return 2.0 / lam


def run(out_dir, quick=False):
    """Fig S5: phase portraits with their saddles, and 10-layer trajectories."""
    t_end = T_END / 100 if quick else T_END
    saddle_points = {arch: [p for p, _ in saddles(arch)] for arch in ARCHITECTURES}
    saddle_eigs = {arch: [e for _, e in saddles(arch)] for arch in ARCHITECTURES}
    runs = {arch: trajectory(arch, t_end=t_end) for arch in ARCHITECTURES}
    times = {arch: time_to_converge(t, u) for arch, (t, u, _) in runs.items()}
    portrait_path = f"{out_dir}/deep_linear_figS5a.png"
    traj_path = f"{out_dir}/deep_linear_figS5b.png"
    plot_portraits(portrait_path, saddle_points)
    plot_trajectories(traj_path, runs, times)
    a0 = initial_weights()
    summary = {
        "saddles_2_layer": saddle_points,
        "saddle_hessian_eigenvalues": saddle_eigs,
        "time_to_90pct": times,
        "initial_u": {arch: float(np.prod(a0 + offsets(arch, DEPTH))) for arch in ARCHITECTURES},
        "max_stable_lr_at_start": {arch: max_stable_lr(arch) for arch in ARCHITECTURES},
        "t_end": t_end,
    }
    settings = {"portrait_s": PORTRAIT_S, "depth": DEPTH, "target": TARGET, "init_scale": INIT_SCALE,
                "init_seed": INIT_SEED, "initial_a": a0, "converged_fraction": CONVERGED_FRACTION,
                "quick": quick}
    toy_figures.save_json(f"{out_dir}/deep_linear.json", {
        "settings": settings, "summary": summary,
        "trajectories": {arch: {"t": t, "u": u, "lambda_max": lam} for arch, (t, u, lam) in runs.items()}})
    summary["figures"] = [portrait_path, traj_path]
    return summary


# ---------------------------------------------------------------- figures
COLORS = {"plain": "tab:blue", "residual": "tab:orange", "hyperres": "tab:green"}
TITLES = {"plain": "plain: (s - a1 a2)^2 / 2", "residual": "residual: (s - (a1+1)(a2+1))^2 / 2",
          "hyperres": "hyper-residual: (s - (a1+1)(a2+2))^2 / 2"}


def plot_portraits(path, saddle_points, n=101):
    fig, axes = toy_figures.figure(3, width=4.3, height=4.0)
    grid = np.linspace(*PORTRAIT_RANGE, n)
    A1, A2 = np.meshgrid(grid, grid)
    for ax, arch in zip(axes, ARCHITECTURES):
        off = offsets(arch, 2)
        F1, F2 = A1 + off[0], A2 + off[1]
        residual = PORTRAIT_S - F1 * F2
        V1, V2 = residual * F2, residual * F1          # -dE/da1, -dE/da2
        speed = np.log10(np.hypot(V1, V2) + 1e-12)
        ax.contourf(grid, grid, np.clip(speed, -3, 2), levels=np.linspace(-3, 2, 16), cmap="viridis")
        ax.streamplot(grid, grid, V1, V2, color="white", density=0.8, linewidth=0.6, arrowsize=0.7)
        ax.contour(grid, grid, F1 * F2, levels=[PORTRAIT_S], colors="gold", linewidths=1.5)
        for p in saddle_points[arch]:
            ax.plot(*p, "X", color="red", ms=11, mec="white", clip_on=False, zorder=5,
                    label=f"saddle ({p[0]:.0f}, {p[1]:.0f})")
        ax.plot(0, 0, "o", color="white", ms=5, mec="k", label="a = 0 (small init)")
        ax.set(xlabel="a1", ylabel="a2", title=TITLES[arch], aspect="equal",
               xlim=PORTRAIT_RANGE, ylim=PORTRAIT_RANGE)
        ax.legend(loc="lower right", fontsize=7, framealpha=0.85)
    fig.suptitle("Two-layer single-mode energies: gold curve = minima (u = s), colour = log10 |grad E|",
                 fontsize=10)
    fig.tight_layout()
    toy_figures.save_figure(fig, path)


def plot_trajectories(path, runs, times):
    fig, axes = toy_figures.figure(2, width=5.2, height=3.9)
    for arch, (t, u, lam) in runs.items():
        label = f"{arch}: t90 = {times[arch]:.3g}" if times[arch] is not None else f"{arch}: not converged"
        axes[0].plot(t[1:], u[1:], color=COLORS[arch], label=label)
        axes[1].plot(t[1:], lam[1:], color=COLORS[arch], label=arch)
        for ax in axes:
            toy_figures.mark_time(ax, times[arch], COLORS[arch])
    axes[0].axhline(TARGET, color="gray", ls=":", lw=1)
    axes[0].set(xscale="log", yscale="log", xlabel="gradient-flow time (= lr x steps)",
                ylabel="u = end-to-end map", title=f"{DEPTH} layers, s = {TARGET:g}: u(t)")
    axes[0].legend(fontsize=7)
    axes[1].set(xscale="log", yscale="log", xlabel="gradient-flow time (= lr x steps)",
                ylabel="largest Hessian eigenvalue",
                title="stiffness: gradient descent needs lr < 2 / this")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    toy_figures.save_figure(fig, path)


def summary_rows(s):
    """(title, [(quantity, value)]) of a `run` summary, for the command line's table."""
    rows = [(f"saddle, 2 layers, {arch}", ", ".join("(%.3g, %.3g)" % tuple(p) for p in s["saddles_2_layer"][arch]))
            for arch in ARCHITECTURES]
    rows += [(f"10 layers, {arch}: time to 90% of s", s["time_to_90pct"][arch]) for arch in ARCHITECTURES]
    rows += [(f"10 layers, {arch}: largest stable lr at start", s["max_stable_lr_at_start"][arch])
             for arch in ARCHITECTURES]
    return "Deep linear single modes (Fig S5)", rows
