"""The SOC forward model against the documented reference numbers and exact solutions."""

import numpy as np
import pytest

from soilsciml.config import SolverConfig
from soilsciml.engines import get_engine
from soilsciml.engines.base import SOCTruthProblem
from soilsciml.models.soc import total_carbon, transport_tendency

TIGHT = SolverConfig(rtol=1e-10, atol=1e-12, max_steps=200_000)


def _solve(
    initial, times, boundary, truth="transport_only", diffusion=1e-3, advection=0.0, solver=TIGHT
):
    depth = np.linspace(0.0, 1.0, initial.size)
    problem = SOCTruthProblem(depth, times, initial, diffusion, advection, boundary, truth, solver)
    return get_engine("jax").simulate_soc_truth(problem)


def test_reference_truth_matches_spec_numbers(reference_dataset):
    final = reference_dataset["soc"].sel(time=50.0).values
    assert final.mean() == pytest.approx(0.657, abs=0.01)
    assert final.var() == pytest.approx(0.205, abs=0.01)
    assert final[0] == pytest.approx(1.504, abs=0.01)
    assert final[-1] == pytest.approx(0.192, abs=0.01)


@pytest.mark.parametrize("mode", [1, 3])
def test_cosine_mode_decays_at_discrete_laplacian_eigenvalue(mode):
    nz, diffusion = 30, 0.01
    index = np.arange(nz)
    dz = 1.0 / (nz - 1)
    theta = mode * np.pi / (nz - 1)
    initial = np.cos(theta * index)
    eigenvalue = (2.0 * np.cos(theta) - 2.0) / dz**2
    times = np.array([0.0, 5.0, 10.0])
    trajectory = _solve(initial, times, "mirror", diffusion=diffusion)
    exact = np.exp(eigenvalue * diffusion * times)[:, None] * initial
    assert trajectory.status.ok
    np.testing.assert_allclose(trajectory.soc, exact, rtol=1e-6, atol=1e-12)


def test_zero_flux_conserves_total_carbon_with_advection():
    depth = np.linspace(0.0, 1.0, 30)
    initial = 1.2 * np.exp(-2.0 * depth)
    times = np.linspace(0.0, 50.0, 11)
    trajectory = _solve(initial, times, "zero_flux", diffusion=1e-2, advection=1e-2)
    mass = total_carbon(trajectory.soc, depth[1] - depth[0])
    np.testing.assert_allclose(mass, mass[0], rtol=1e-9)
    # The tendency itself integrates to zero to round-off.
    tendency = transport_tendency(initial, depth[1], 1e-2, 1e-2, "zero_flux")
    assert abs(total_carbon(tendency, depth[1])) < 1e-15


def test_mirror_does_not_conserve_with_advection():
    """Documented flaw of the paper's boundary: mass changes when v > 0."""
    depth = np.linspace(0.0, 1.0, 30)
    initial = 1.2 * np.exp(-2.0 * depth)
    trajectory = _solve(initial, np.array([0.0, 50.0]), "mirror", diffusion=1e-2, advection=1e-2)
    mass = total_carbon(trajectory.soc, depth[1] - depth[0])
    assert abs(mass[-1] / mass[0] - 1.0) > 1e-3


def test_implicit_solver_agrees_with_explicit(reference_dataset):
    depth = reference_dataset["depth"].values
    initial = reference_dataset["soc"].isel(time=0).values
    times = np.array([0.0, 25.0, 50.0])
    implicit = _solve(
        initial,
        times,
        "mirror",
        "reference",
        1e-3,
        1e-3,
        SolverConfig(solver="kvaerno5", rtol=1e-8, atol=1e-10),
    )
    assert implicit.status.ok
    expected = reference_dataset["soc"].sel(time=times).values
    np.testing.assert_allclose(implicit.soc, expected, rtol=1e-5)
    assert depth.size == 30


def test_failed_solve_is_a_status_not_a_crash():
    initial = np.ones(30)
    trajectory = _solve(
        initial, np.array([0.0, 50.0]), "mirror", "reference", 1e-3, 1e-3, SolverConfig(max_steps=2)
    )
    assert not trajectory.status.ok
    assert "max_steps" in trajectory.status.message
