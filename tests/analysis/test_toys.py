"""Tests of the toy models (analysis/toys/): exact formulas, the measured orderings, and the CLI.

Each test checks a statement that could be false: a wrong derivative, a
misplaced saddle or a reversed speed ordering makes it fail.
"""
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from analysis.toys import deep_linear, flow, linear_modes, toy_figures, two_unit
from cli import toy


# ---------------------------------------------------------------- shared pieces
def central_differences(f, x, eps=1e-6):
    x = np.asarray(x, dtype=float)
    return np.array([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(len(x))])


def test_descend_is_forward_euler_and_counts_time_in_lr_units():
    # dE/dx = x: each step multiplies by (1 - lr)
    times, xs = flow.descend(lambda x: x, np.array([1.0]), lr=0.1, n_steps=10, record_every=5)
    assert np.allclose(times, [0.0, 0.5, 1.0])
    assert np.allclose(xs[:, 0], [1.0, 0.9**5, 0.9**10])


def test_gradient_flow_matches_the_exponential():
    times, xs = flow.gradient_flow(lambda x: 2.0 * x, [1.0], 1.0, times=np.linspace(0, 1, 5))
    assert np.allclose(xs[:, 0], np.exp(-2.0 * times), rtol=1e-6)


def test_first_time():
    assert flow.first_time([0, 1, 2, 3], [False, False, True, True]) == 2.0
    assert flow.first_time([0, 1], [False, False]) is None


def test_save_json_is_atomic_and_plain(tmp_path):
    path = tmp_path / "sub" / "x.json"
    toy_figures.save_json(str(path), {"a": np.arange(3), "b": np.float64(np.nan), "c": [(1, 2.5)], "d": None})
    assert json.loads(path.read_text()) == {"a": [0, 1, 2], "b": None, "c": [[1, 2.5]], "d": None}
    assert os.listdir(path.parent) == ["x.json"]          # no temporary file left behind


# ---------------------------------------------------------------- two hidden units
@pytest.mark.parametrize("n", [1, 3])
def test_arcsin_kernel_derivative_matches_finite_differences(n):
    rng = np.random.default_rng(n)
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    assert np.allclose(two_unit.kernel_grad(a, b),
                       central_differences(lambda x: two_unit.kernel(x, b), a), atol=1e-8)
    assert np.allclose(two_unit.mixed_grad(a, b),
                       central_differences(lambda x: two_unit.mixed(x, b), a), atol=1e-8)


def test_arcsin_kernel_matches_monte_carlo():
    rng = np.random.default_rng(0)
    a, b = np.array([0.7, -0.4]), np.array([1.5, 0.3])
    x = rng.standard_normal((400_000, 2))
    prod = two_unit.phi(x @ a) * two_unit.phi(x @ b)
    assert abs(prod.mean() - two_unit.kernel(a, b)) < 4 * prod.std() / np.sqrt(len(x))


@pytest.mark.parametrize("skip", [None, two_unit.SKIP], ids=["plain", "skip"])
def test_two_unit_gradient_matches_finite_differences(skip):
    theta = np.array([1.3, 0.4, 0.7, -0.2])
    _, grad = two_unit.loss_and_grad(theta, skip)
    assert np.allclose(grad, central_differences(lambda t: two_unit.loss(t, skip), theta), atol=1e-8)


@pytest.mark.parametrize("skip", [None, two_unit.SKIP], ids=["plain", "skip"])
def test_two_unit_closed_form_matches_monte_carlo(skip):
    """Sampled loss and gradient (no label noise) agree with the closed form within 4 standard errors."""
    rng = np.random.default_rng(1)
    theta = np.array([2.0, -0.7, 1.1, 0.3])
    chunks = [two_unit.sampled_loss_and_grad(theta, rng.standard_normal((5_000, 1)), np.zeros(5_000), skip)
              for _ in range(80)]
    est = np.array([np.concatenate([[L], g]) for L, g in chunks])       # one row per chunk of 5000
    mean, sem = est.mean(axis=0), est.std(axis=0, ddof=1) / np.sqrt(len(est))
    L, g = two_unit.loss_and_grad(theta, skip)
    assert np.all(np.abs(mean - np.concatenate([[L], g])) < 4 * sem + 1e-12)


def test_label_noise_leaves_the_sampled_gradient_unbiased():
    rng = np.random.default_rng(2)
    theta = np.array([2.0, -0.7, 1.1, 0.3])
    x = rng.standard_normal((400_000, 1))
    _, g_noisy = two_unit.sampled_loss_and_grad(theta, x, 0.5 * rng.standard_normal(len(x)))
    _, g_exact = two_unit.loss_and_grad(theta)
    assert np.allclose(g_noisy, g_exact, atol=0.01)


def test_slice_point_has_the_requested_coordinates_and_optimal_w():
    theta = two_unit.slice_point(0.7, -0.4)
    h, z = two_unit.overlap_coords(theta)
    assert np.allclose([h[0], z[0]], [0.7, -0.4])
    g = two_unit.loss_and_grad(theta)[1]
    alpha, beta = (1 - 0.4) / 2, (1 + 0.4) / 2
    assert abs(alpha * g[0] + beta * g[1]) < 1e-10     # dL/dw = 0 along w = w_a + w_b


def test_elimination_lines_split_the_overlap_line_into_stable_and_unstable_parts():
    """Near h = 0, h shrinks for |z| < 1 (the stable segment) and grows for |z| > 1."""
    h = 1e-4
    rates = {z: two_unit.reduced_velocity(two_unit.slice_point(h, z))[0] / h for z in (-1.5, -0.5, 0.0, 0.5, 1.5)}
    assert rates[-0.5] < 0 and rates[0.0] < 0 and rates[0.5] < 0
    assert rates[-1.5] > 0 and rates[1.5] > 0


def test_plateau_height_is_the_best_single_unit_error():
    w, v, L_star = two_unit.best_single_unit()
    assert w > 0 and 1e-3 < L_star < 3e-3
    assert abs(two_unit.loss(two_unit.slice_point(0.0, 0.3)) - L_star) < 1e-9   # on h = 0: any z


def test_on_singularity_start_is_captured_and_near_singularity_start_escapes():
    on = two_unit.exact_run(two_unit.ON_START, 3000.0, n_points=301)
    assert on["t_learned"] is None and on["h"][-1] < 1e-3 and abs(on["z"][-1]) < 1
    near = two_unit.exact_run(two_unit.NEAR_START, two_unit.NEAR_T_END, n_points=401)
    assert near["t_learned"] is not None
    closest = two_unit.closest_approach(near)
    assert closest["h"] < 0.2 and closest["t"] > 500        # lingered near the overlap line first


def test_basin_of_the_stable_segment_in_the_2d_field():
    """The pale region of Fig 2b: the band |z| < 1 up to z ~ 0.55, not the near-singularity start."""
    h_grid, z_grid = two_unit.H_GRID, two_unit.Z_GRID
    basin = two_unit.stable_basin(h_grid, z_grid, *two_unit.flow_field(h_grid, z_grid))

    def at(h, z):
        return basin[np.argmin(np.abs(z_grid - z)), np.argmin(np.abs(h_grid - h))]
    assert at(1.0, 0.0) and at(1.0, 0.4) and at(2.5, -0.5)
    assert not at(*two_unit.NEAR_START) and not at(1.0, 1.5) and not at(1.0, -1.5)


@pytest.mark.parametrize("start", ["ON_START", "ON_LINE_START"])
def test_skip_net_learns_from_where_the_plain_net_stays_on_the_overlap_line(start):
    start = getattr(two_unit, start)
    plain = two_unit.exact_run(start, 1500.0, n_points=301)
    skip = two_unit.exact_run(start, 1500.0, skip=two_unit.SKIP, n_points=301)
    assert plain["t_learned"] is None and plain["h"][-1] < 0.02       # still collapsing onto h = 0
    assert skip["t_learned"] is not None and skip["t_learned"] < 1000


def test_skip_teacher_is_exactly_representable():
    teacher_theta = np.concatenate([two_unit.TEACHER_W, two_unit.TEACHER_J.ravel()])
    assert two_unit.loss(teacher_theta) < 1e-14
    assert two_unit.loss(teacher_theta, two_unit.SKIP) < 1e-14


# ---------------------------------------------------------------- three-layer linear nets (Fig S4)
@pytest.mark.parametrize("residual", [False, True])
def test_linear_mode_gradient_matches_finite_differences(residual):
    theta = np.random.default_rng(3).standard_normal(8)
    _, grad = linear_modes.energy_and_grad(theta, residual)
    fd = central_differences(lambda t: linear_modes.energy_and_grad(t, residual)[0], theta)
    assert np.allclose(grad, fd, atol=1e-7)


def test_residual_three_layer_net_converges_faster_in_both_settings():
    for setting in ("small", "equal_norm"):
        plain = linear_modes.convergence_iterations(*linear_modes.train(setting, False))[1]
        residual = linear_modes.convergence_iterations(*linear_modes.train(setting, True))[1]
        assert residual is not None
        assert plain is None or residual < plain
    # the equal-norm plain start sits on a saddle: a tiny nudge lets it converge, later than residual
    nudged = linear_modes.convergence_iterations(
        *linear_modes.train("equal_norm", False, linear_modes.NUDGE_N_ITER, linear_modes.EQUAL_NORM_NUDGE))[1]
    assert nudged is not None and nudged > 50


# ---------------------------------------------------------------- deep linear (Fig S5)
def test_deep_linear_hessian_matches_finite_differences():
    a = np.random.default_rng(4).standard_normal(5)
    off = deep_linear.offsets("hyperres", 5)
    H = deep_linear.hessian(a, off, 2.0)
    fd = central_differences(lambda x: deep_linear.gradient(x, off, 2.0), a)
    assert np.allclose(H, fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("arch,expected", [("plain", (0, 0)), ("residual", (-1, -1)), ("hyperres", (-1, -2))])
def test_two_layer_saddle_positions(arch, expected):
    found = deep_linear.saddles(arch)
    assert len(found) == 1
    point, eig = found[0]
    assert np.allclose(point, expected, atol=1e-8)
    assert eig.min() < 0 < eig.max()
    assert np.linalg.norm(deep_linear.gradient(point, deep_linear.offsets(arch, 2), 2.0)) < 1e-10


def test_deep_linear_speed_ordering_hyperres_residual_plain():
    times = {arch: deep_linear.time_to_converge(*deep_linear.trajectory(arch)[:2])
             for arch in deep_linear.ARCHITECTURES}
    assert None not in times.values()
    assert times["hyperres"] < times["residual"] < times["plain"]


# ---------------------------------------------------------------- command line
def test_cli_toy_all_writes_figures_and_numbers(tmp_path):
    result = CliRunner().invoke(toy, ["all", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    expected_png = ["two_unit_fig2.png", "two_unit_skip.png", "linear_modes_figS4.png",
                    "deep_linear_figS5a.png", "deep_linear_figS5b.png"]
    for name in expected_png:
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    for name in ["two_unit.json", "linear_modes.json", "deep_linear.json"]:
        numbers = json.loads((tmp_path / name).read_text())
        assert numbers["settings"]
    assert json.loads((tmp_path / "deep_linear.json").read_text())["summary"]["saddles_2_layer"]["hyperres"] \
        == [[-1, -2]]
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]
    assert "time to 90% of s" in result.output


@pytest.mark.parametrize("command", ["linear", "deep-linear", "two-unit"])
def test_cli_single_commands_have_out_option(command):
    result = CliRunner().invoke(toy, [command, "--help"])
    assert result.exit_code == 0 and "--out" in result.output and "results/toys" in result.output
    assert "--quick" not in result.output                       # hidden test option
