"""The engine interface: what every compute backend (JAX, Julia) implements.

Engines see numpy arrays and plain config, never xarray. Results carry an explicit status with
an actionable message instead of raising from deep inside a solver.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

from soilsciml.config import SolverConfig
from soilsciml.models.soc import DriverCoefficients, ReferenceTruth

__all__ = [
    "SOLVE_MESSAGES",
    "AbstractEngine",
    "PBMTrajectory",
    "SOCTrajectory",
    "SOCTruthProblem",
    "SolveStatus",
]

#: Status code -> actionable message, shared by all engines.
SOLVE_MESSAGES = {
    0: "success",
    1: "max_steps reached; increase solver.max_steps or use solver='kvaerno5' for stiff settings",
    2: "non-finite state; reduce the tolerances or check the inputs for extreme values",
    3: "step size collapsed or the implicit solve diverged; try solver='kvaerno5' or smaller rtol",
}


@dataclass(frozen=True)
class SolveStatus:
    """Outcome of one solve (or the worst of a batch).

    Parameters
    ----------
    code : int
        0 on success; a key of :data:`SOLVE_MESSAGES` otherwise.
    n_failed : int
        Number of failed solves (samples, sites or trials) behind this status.
    """

    code: int = 0
    n_failed: int = 0

    @property
    def ok(self) -> bool:
        """True when every solve succeeded."""
        return self.code == 0

    @property
    def message(self) -> str:
        """What happened and what to do about it."""
        return SOLVE_MESSAGES.get(self.code, f"solver failure (code {self.code})")

    def __str__(self) -> str:
        return "ok" if self.ok else f"failed ({self.n_failed} solve(s)): {self.message}"


@dataclass(frozen=True)
class SOCTruthProblem:
    """A synthetic SOC simulation with analytic drivers and a named truth generator.

    Parameters
    ----------
    depth : ndarray, shape (nz,)
        Uniform depth nodes in m.
    times : ndarray, shape (nt,)
        Output times in years, increasing; the solve starts at ``times[0]``.
    initial : ndarray, shape (nz,) or (site, nz)
        SOC at ``times[0]`` in %; one row per site for a batched multi-site solve.
    diffusion, advection : float
        D in m2 yr-1 and v in m yr-1.
    boundary : str
        ``mirror`` or ``zero_flux``.
    truth : str
        ``reference`` or ``transport_only``.
    drivers : DriverCoefficients or sequence of DriverCoefficients
        The analytic drivers; one per site when ``initial`` has a site axis.
    """

    depth: np.ndarray
    times: np.ndarray
    initial: np.ndarray
    diffusion: float
    advection: float
    boundary: str
    truth: str
    solver: SolverConfig
    drivers: DriverCoefficients | tuple[DriverCoefficients, ...] = field(
        default_factory=DriverCoefficients
    )
    reference: ReferenceTruth = field(default_factory=ReferenceTruth)


@dataclass(frozen=True)
class SOCTrajectory:
    """SOC on (time, depth), or (site, time, depth), in % with the solve's status and statistics.

    ``num_steps`` and ``num_rejected_steps`` are the largest over sites.
    """

    times: np.ndarray
    soc: np.ndarray
    status: SolveStatus
    num_steps: int
    num_rejected_steps: int


@dataclass(frozen=True)
class PBMTrajectory:
    """HySoMi pools of a batch of parameter sets, with per-sample solve codes.

    Parameters
    ----------
    times : ndarray, shape (nt,)
        Output times in hours.
    states : ndarray, shape (n, nt, 6)
        Pools B_A, B_D, C_H, C_L, C_LS, CO2 in mg C/g (non-finite where a solve failed).
    codes : ndarray of int, shape (n,)
        0 on success, else a key of :data:`SOLVE_MESSAGES`.
    num_steps : ndarray of int, shape (n,)
        Accepted solver steps per sample.
    """

    times: np.ndarray
    states: np.ndarray
    codes: np.ndarray
    num_steps: np.ndarray

    @property
    def status(self) -> SolveStatus:
        """The worst outcome over the batch and how many samples failed."""
        failed = self.codes != 0
        return SolveStatus(code=int(self.codes.max(initial=0)), n_failed=int(failed.sum()))


class AbstractEngine(abc.ABC):
    """A compute backend. Concrete engines are final classes registered by name."""

    name: str

    @abc.abstractmethod
    def simulate_soc_truth(self, problem: SOCTruthProblem) -> SOCTrajectory:
        """Solve the SOC PDE with a mechanistic truth generator."""

    @abc.abstractmethod
    def simulate_pbm(
        self, params: np.ndarray, initial: np.ndarray, times: np.ndarray, solver: SolverConfig
    ) -> PBMTrajectory:
        """Solve the HySoMi PBM for parameter sets ``params`` (n, 13) from ``initial`` (6,) or
        (n, 6), saving at ``times`` (nt,) in hours; failures are per-sample codes."""
