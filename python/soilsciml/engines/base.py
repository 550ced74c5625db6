"""The engine interface: what every compute backend (JAX, Julia) implements.

Engines see numpy arrays and plain config, never xarray. Results carry an explicit status with
an actionable message instead of raising from deep inside a solver.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from soilsciml.config import HySoMiTrainConfig, SOCFitConfig, SolverConfig
from soilsciml.models.soc import DriverCoefficients, ReferenceTruth

__all__ = [
    "SOLVE_MESSAGES",
    "AbstractEngine",
    "HySoMiFitOutput",
    "HySoMiTrainingData",
    "PBMTrajectory",
    "SOCFitOutput",
    "SOCTrajectory",
    "SOCTruthProblem",
    "SOCUDEProblem",
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
        Solver steps per sample, accepted and rejected (what ``solver.max_steps`` bounds).
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


@dataclass(frozen=True)
class SOCUDEProblem:
    """Data of one SOC UDE fit, as plain arrays (see ``contracts.md``).

    Parameters
    ----------
    depth : ndarray, shape (nz,)
        Uniform depth nodes in m.
    times : ndarray, shape (nt,)
        Observed times in years, increasing; ``times[0]`` is the start of the solve.
    initial : ndarray, shape (nz,) or (site, nz)
        SOC at ``times[0]`` in %. With a leading site axis the problem holds many sites that
        share the time and depth grids, the networks and the input scaling; all sites form one
        ODE state (site, nz), solved together (engines with ``supports_sites``).
    driver_times : ndarray, shape (ntd,)
        Times (yr) at which the drivers are sampled; linear interpolation in between, clamped
        outside.
    drivers : ndarray, shape (ntd, nz, 3) or (ntd, site, nz, 3)
        pH (1), CEC (cmol(+)/kg) and clay (%) in that order; time first, then site.
    targets : ndarray, shape (nt, nz) or (site, nt, nz)
        Observed SOC in %; NaN marks a missing observation. Site first, as in a dataset's
        (site, time, depth). With ``observation``, the last axis is the observed layers.
    diffusion, advection : float
        D in m2 yr-1 and v in m yr-1.
    boundary : str
        ``mirror`` or ``zero_flux``.
    input_shift, input_scale : ndarray, shape (6,), optional
        Network input scaling ``(x - shift) / scale``. None: computed from this problem as
        ``network.input_scaling`` says; a trained model passes the scaling of its training data.
    observation : ndarray, shape (n_obs, nz) or (site, n_obs, nz), optional
        Observation operator of measured soil layers: row k maps the node values to the mean
        of the piecewise-linear state over layer k (see
        :func:`soilsciml.models.soc_layers.layer_mean_matrix`); the loss compares
        ``observation @ state`` with ``targets``. None (default): the targets are the nodes.
    """

    depth: np.ndarray
    times: np.ndarray
    initial: np.ndarray
    driver_times: np.ndarray
    drivers: np.ndarray
    targets: np.ndarray
    diffusion: float
    advection: float
    boundary: str
    input_shift: np.ndarray | None = None
    input_scale: np.ndarray | None = None
    observation: np.ndarray | None = None


@dataclass(frozen=True)
class SOCFitOutput:
    """What an engine returns from :meth:`AbstractEngine.fit_soc`.

    Parameters
    ----------
    weights : dict of str to ndarray
        Trained weights in the flat layout of ``contracts.md`` (float64).
    history : dict of str to ndarray
        Loss after each iteration, per optimiser stage (``adam``, ``bfgs`` or ``lbfgs``).
    status : SolveStatus
        ``ok`` when the final weights solve; ``n_failed`` counts every failed solve met during
        training (each cost the 1e6 penalty).
    solver_stats : dict of str to int
        Accepted and rejected steps summed over training, evaluations of the loss, and the
        steps of the final solve.
    num_compiles : int
        Traces of the training kernels during this fit (0 when reused from an earlier fit).
    stop_reasons : dict of str to str
        Why each stage ended: ``budget``, ``early_stopping``, ``converged`` or
        ``line_search_failed``.
    """

    weights: dict[str, np.ndarray]
    history: dict[str, np.ndarray]
    status: SolveStatus
    solver_stats: dict[str, int]
    num_compiles: int
    stop_reasons: dict[str, str]


@dataclass(frozen=True)
class HySoMiTrainingData:
    """The arrays of one HySoMi fit (see ``soilsciml.hysomi.fit.split_arrays``).

    Parameters
    ----------
    traits_train, traits_validation, traits_test : ndarray, shape (n, n_traits)
        Traits of the training, validation and test samples.
    states_train, states_validation : ndarray, shape (n, nt, 6)
        Their pools B_A, B_D, C_H, C_L, C_LS, CO2 in mg C/g.
    times : ndarray, shape (nt,)
        Output times in hours.
    """

    traits_train: np.ndarray
    states_train: np.ndarray
    traits_validation: np.ndarray
    states_validation: np.ndarray
    traits_test: np.ndarray
    times: np.ndarray


@dataclass(frozen=True)
class HySoMiFitOutput:
    """What an engine returns from :meth:`AbstractEngine.fit_hysomi`.

    Parameters
    ----------
    trained : Any
        The trained model, as the engine's :meth:`AbstractEngine.predict_hysomi` takes it.
    history : dict of str to ndarray
        Per epoch: ``train_loss``, ``validation_loss``, ``learning_rate``, ``failed_solves``,
        and (epoch, term) ``validation_terms`` and ``term_weights``.
    params : ndarray, shape (n_test, 13)
        Predicted parameters of the test samples (NaN for ``ml``).
    states : ndarray, shape (n_test, nt, 6)
        Their predicted pools in mg C/g (only CO2 for ``ml``; NaN after a failed solve).
    codes : ndarray of int, shape (n_test,)
        Solve status per test sample (a key of :data:`SOLVE_MESSAGES`).
    """

    trained: Any
    history: dict[str, np.ndarray]
    params: np.ndarray
    states: np.ndarray
    codes: np.ndarray


class AbstractEngine(abc.ABC):
    """A compute backend. Concrete engines are final classes registered by name."""

    name: str
    #: Whether :meth:`fit_soc`, :meth:`predict_soc` and :meth:`soc_loss` take multi-site
    #: problems (a leading site axis, see :class:`SOCUDEProblem`).
    supports_sites: bool = False

    @abc.abstractmethod
    def simulate_soc_truth(self, problem: SOCTruthProblem) -> SOCTrajectory:
        """Solve the SOC PDE with a mechanistic truth generator."""

    @abc.abstractmethod
    def simulate_pbm(
        self, params: np.ndarray, initial: np.ndarray, times: np.ndarray, solver: SolverConfig
    ) -> PBMTrajectory:
        """Solve the HySoMi PBM for parameter sets ``params`` (n, 13) from ``initial`` (6,) or
        (n, 6), saving at ``times`` (nt,) in hours; failures are per-sample codes."""

    @abc.abstractmethod
    def predict_soc(
        self, problem: SOCUDEProblem, weights: dict[str, np.ndarray], config: SOCFitConfig
    ) -> SOCTrajectory:
        """Solve the SOC UDE with the given network weights at ``problem.times``."""

    @abc.abstractmethod
    def soc_loss(
        self, problem: SOCUDEProblem, weights: dict[str, np.ndarray], config: SOCFitConfig
    ) -> float:
        """Total training loss (data misfit, collocation and weight decay) at ``weights``."""

    @abc.abstractmethod
    def fit_soc(
        self, problem: SOCUDEProblem, config: SOCFitConfig, progress: bool = True
    ) -> SOCFitOutput:
        """Train NN_P and NN_R on ``problem`` with the optimiser stages of ``config``."""

    @abc.abstractmethod
    def fit_hysomi(
        self, data: HySoMiTrainingData, config: HySoMiTrainConfig, progress: bool = True
    ) -> HySoMiFitOutput:
        """Train the compared model ``config.model`` on ``data`` (early stopping on the
        validation criterion ``config.selection``) and predict its test split with the best
        epoch's model; the history records ``selection`` and ``best_epoch``."""

    @abc.abstractmethod
    def predict_hysomi(
        self, trained: Any, traits: np.ndarray, times: np.ndarray, config: HySoMiTrainConfig
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Parameters (n, 13), pools (n, nt, 6) and solve codes (n,) of a model trained by
        :meth:`fit_hysomi`, for traits (n, n_traits) on ``times`` (hours)."""
