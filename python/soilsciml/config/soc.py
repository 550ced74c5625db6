"""Settings of the SOC depth-profile model: simulation, noise and the UDE fit."""

from __future__ import annotations

import reprlib
from dataclasses import field

from soilsciml.config.base import SolverConfig, _require
from soilsciml.config.domain import MAX_SEED, setting, settings

__all__ = [
    "ACTIVATIONS",
    "BOUNDARIES",
    "DATA_FORMATS",
    "DRIVER_TIMES",
    "HEADS",
    "INPUT_SCALINGS",
    "MAX_OUTPUT_TIMES",
    "NOISE_KINDS",
    "SECOND_STAGES",
    "SOC_DATA_LOSSES",
    "SOC_TARGETS",
    "TRUTHS",
    "NoiseConfig",
    "SOCDataConfig",
    "SOCFitConfig",
    "SOCGridConfig",
    "SOCInitialConfig",
    "SOCLossConfig",
    "SOCNetworkConfig",
    "SOCSimulationConfig",
    "SOCTrainConfig",
    "SOCTransportConfig",
    "holdout_stride",
]

#: Most output times a simulation may write (years / output_step).
MAX_OUTPUT_TIMES = 100_000

BOUNDARIES = ("mirror", "zero_flux")
TRUTHS = ("reference", "transport_only")
NOISE_KINDS = ("iid", "ar1")


@settings("grid")
class SOCGridConfig:
    """Depth grid of the method of lines.

    Parameters
    ----------
    nz : int
        Number of uniformly spaced grid points, both ends included.
    depth : float
        Profile depth H in m (positive down).
    """

    nz: int = setting(30, ge=3, le=2000)
    depth: float = setting(1.0, gt=0, le=100)


@settings("transport")
class SOCTransportConfig:
    """Transport of the advection-diffusion equation.

    Parameters
    ----------
    diffusion : float
        Diffusivity D in m2 yr-1.
    advection : float
        Downward advection velocity v in m yr-1.
    boundary : str
        ``mirror`` (the paper's mirrored ghost points) or ``zero_flux`` (finite volume, total
        flux zero at both ends, conserves mass).
    """

    diffusion: float = setting(1e-3, ge=0, le=10)
    advection: float = setting(1e-3, ge=-10, le=10)
    boundary: str = setting("mirror", choices=BOUNDARIES)


@settings("initial")
class SOCInitialConfig:
    """Initial profile C(z, 0) = surface * exp(-decay * depth_scale * z) (paper eq. 8).

    Parameters
    ----------
    surface : float
        Surface SOC in % (g C per 100 g soil).
    decay : float
        Decay constant k_decay (dimensionless, per depth_scale).
    depth_scale : float
        Depth scaling factor L (per m).
    """

    surface: float = setting(1.2, ge=0, le=100)
    decay: float = setting(0.02, ge=0, le=1000)
    depth_scale: float = setting(100.0, gt=0, le=1e6)


@settings()
class SOCSimulationConfig:
    """Everything a synthetic SOC simulation needs.

    Parameters
    ----------
    truth : str
        Truth generator: ``reference`` (known production and respiration, default) or
        ``transport_only`` (P = R = 0, the paper's literal text).
    years : float
        Horizon in years.
    output_step : float
        Spacing of the output times in years.
    """

    truth: str = setting("reference", choices=TRUTHS)
    years: float = setting(50.0, gt=0, le=10_000)
    output_step: float = setting(1.0, gt=0, le=10_000)
    grid: SOCGridConfig = field(default_factory=SOCGridConfig)
    transport: SOCTransportConfig = field(default_factory=SOCTransportConfig)
    initial: SOCInitialConfig = field(default_factory=SOCInitialConfig)
    solver: SolverConfig = field(default_factory=lambda: SolverConfig(rtol=1e-8, atol=1e-10))

    def __post_init__(self) -> None:
        _require(
            self.years / self.output_step <= MAX_OUTPUT_TIMES,
            f"years / output_step must be at most {MAX_OUTPUT_TIMES} output times; got "
            f"{self.years:g} / {self.output_step:g}",
        )


@settings("noise")
class NoiseConfig:
    """Multiplicative observation noise x~ = x (1 + level * eps) (paper eq. 13).

    Parameters
    ----------
    level : float
        Relative noise level eta (0.07 for 7 %).
    kind : str
        ``iid`` or ``ar1`` (eps correlated along depth with lag-1 correlation ``rho``).
    rho : float
        Lag-1 correlation along depth for ``ar1``.
    seed : int
        Seed of the random generator.
    variables : tuple of str
        Variables to perturb.
    """

    level: float = setting(0.07, ge=0, le=1, fraction=True)
    kind: str = setting("ar1", choices=NOISE_KINDS)
    rho: float = setting(0.8, gt=-1, lt=1)
    seed: int = setting(0, ge=0, le=MAX_SEED)
    variables: tuple[str, ...] = setting(("soc", "ph", "cec", "clay"), max_items=64)


ACTIVATIONS = ("tanh", "gelu")
HEADS = ("softplus", "scaled_sigmoid", "none")
INPUT_SCALINGS = ("paper", "standardise")
SOC_TARGETS = ("terminal", "trajectory", "initial")
SOC_DATA_LOSSES = ("mse", "huber", "student_t", "heteroscedastic")
SECOND_STAGES = ("bfgs", "lbfgs", "none")


def holdout_stride(holdout: str) -> int:
    """The depth stride of ``train.holdout`` (0 for ``none``)."""
    named = {"none": 0, "every_fourth_depth": 4}
    if holdout in named:
        return named[holdout]
    _require(
        isinstance(holdout, str)
        and holdout.isascii()
        and holdout.isdigit()
        and len(holdout) <= 6
        and 2 <= int(holdout) <= 100_000,
        f"train.holdout must be 'none', 'every_fourth_depth' or a stride from 2 to 100000 as "
        "a string; "
        f"got {reprlib.repr(holdout)}",
    )
    return int(holdout)


@settings("network")
class SOCNetworkConfig:
    """The two networks NN_P (production) and NN_R (respiration) of the SOC UDE.

    Each is Dense(6 -> h1, act) -> Dense(h1 -> h2, act) -> Dense(h2 -> 1) -> head, with inputs
    (pH, OC, CEC, Clay, z, t).

    Parameters
    ----------
    h1, h2 : int
        Widths of the two hidden layers.
    activation : str
        ``tanh`` or ``gelu`` (tanh approximation).
    head : str
        Output head: ``softplus`` (non-negative, default), ``scaled_sigmoid``
        (``head_scale * sigmoid``, bounded) or ``none``.
    head_scale : float
        Upper bound of ``scaled_sigmoid`` in % yr-1.
    input_scaling : str
        ``paper`` (pH/7, Clay/30, t/t_end, others as is) or ``standardise`` (mean and standard
        deviation of the training drivers and targets).
    """

    h1: int = setting(32, ge=1, le=4096)
    h2: int = setting(16, ge=1, le=4096)
    activation: str = setting("gelu", choices=ACTIVATIONS)
    head: str = setting("softplus", choices=HEADS)
    head_scale: float = setting(1.0, gt=0, le=1e6)
    input_scaling: str = setting("paper", choices=INPUT_SCALINGS)


@settings("loss")
class SOCLossConfig:
    """Training loss of the SOC UDE ([SOC science: losses][soc-losses]).

    Parameters
    ----------
    target : str
        ``terminal`` (last observed profile), ``trajectory`` (every observed time after the
        start) or ``initial`` (the "t = 0" cases: the profile after a rollout of
        ``epsilon_rollout`` years from the observed initial profile must reproduce it).
    kind : str
        Data misfit (NaN targets masked): ``mse``; ``huber`` (quadratic within ``huber_delta``,
        linear beyond); ``student_t`` (negative log-likelihood of a Student-t with a learned
        scale and ``student_dof`` degrees of freedom, learned too with ``learn_dof``);
        ``heteroscedastic`` (Gaussian negative log-likelihood with standard deviation
        ``noise_eta * |C_pred| + noise_floor``, the multiplicative noise model). The three
        likelihoods are mean negative log-likelihoods per point, not squared errors, so
        ``lambda_wd`` weighs differently against them.
    lambda_term : float
        Weight of the data misfit.
    lambda_coll : float
        Weight of the collocation term (PDE residual on the kernel-smoothed observed field).
    lambda_wd : float
        Weight decay on the sum of squares of all weights and biases.
    epsilon_rollout : float
        Rollout length in years for ``target = "initial"``.
    collocation_bandwidth : float
        Width (standard deviation) of the Gaussian smoothing kernel in time, in units of the
        median spacing of the observed times.
    huber_delta : float
        Residual (% SOC) where ``huber`` turns from quadratic to linear.
    student_dof : float
        Degrees of freedom of ``student_t`` (the initial value when ``learn_dof``).
    learn_dof : bool
        Learn the degrees of freedom of ``student_t`` as well as its scale.
    noise_eta : float
        Relative noise level of ``heteroscedastic`` (0.35 = 35 %); 0 takes the dataset's
        ``noise_level`` attribute (written by ``add_noise``).
    learn_eta : bool
        Learn ``noise_eta`` (starting from its value) instead of keeping it fixed.
    noise_floor : float
        Standard deviation floor of ``heteroscedastic`` in % SOC.
    """

    target: str = setting("terminal", choices=SOC_TARGETS)
    kind: str = setting("mse", choices=SOC_DATA_LOSSES)
    lambda_term: float = setting(1.0, ge=0, le=1e6)
    lambda_coll: float = setting(0.0, ge=0, le=1e6)
    lambda_wd: float = setting(0.0, ge=0, le=1e6)
    epsilon_rollout: float = setting(1.0, gt=0, le=1000)
    collocation_bandwidth: float = setting(1.0, gt=0, le=1000)
    huber_delta: float = setting(0.05, gt=0, le=1000)
    student_dof: float = setting(4.0, gt=0, le=1e6)
    learn_dof: bool = setting(False)
    noise_eta: float = setting(0.0, ge=0, le=1, fraction=True)
    learn_eta: bool = setting(False)
    noise_floor: float = setting(0.01, gt=0, le=100)


@settings("train")
class SOCTrainConfig:
    """Optimisation of the SOC UDE: Adam, then a quasi-Newton stage, with early stopping.

    Parameters
    ----------
    adam_iters : int
        Adam iterations (0 skips the stage).
    lr : float
        Adam learning rate.
    second_stage : str
        ``bfgs`` (optimistix BFGS), ``lbfgs`` (optimistix L-BFGS) or ``none``.
    second_iters : int
        Iterations of the second stage.
    patience : int
        Stop a stage after this many iterations without a relative improvement of the best
        loss by more than ``min_delta``.
    min_delta : float
        Relative improvement of the best loss that counts as progress (1e-4: a stage that
        gains less than 0.01 % in ``patience`` iterations has converged).
    seed : int
        Seed of the network initialisation.
    holdout : str
        ``none``, ``every_fourth_depth`` or a stride ``"K"`` (K >= 2): every K-th depth (from
        index K // 2) is left out of the training loss; the MSE at those depths drives early
        stopping and the choice of the best weights instead of the training loss.
    """

    adam_iters: int = setting(200, ge=0, le=1_000_000)
    lr: float = setting(3e-3, gt=0, le=10)
    second_stage: str = setting("bfgs", choices=SECOND_STAGES)
    second_iters: int = setting(400, ge=0, le=1_000_000)
    patience: int = setting(50, ge=1, le=1_000_000)
    min_delta: float = setting(1e-4, ge=0, le=1)
    seed: int = setting(0, ge=0, le=MAX_SEED)
    holdout: str = setting(
        "none", note="none, every_fourth_depth or a stride K from 2 to 100000 as a string"
    )

    def __post_init__(self) -> None:
        holdout_stride(self.holdout)


DATA_FORMATS = ("auto", "grid", "profiles")
DRIVER_TIMES = ("interpolate", "constant")


@settings("data")
class SOCDataConfig:
    """How a dataset becomes the model's depth grid and drivers.

    Parameters
    ----------
    format : str
        ``grid`` (SOC and drivers at every node of a uniform depth grid), ``profiles``
        (measured layers on (site, time, layer), as read by
        :func:`soilsciml.soc.profiles.read_profiles`) or ``auto`` (``profiles`` when the
        dataset has a ``layer`` dimension).
    nz : int
        Nodes of the uniform model grid of profile data (both ends included).
    depth : float
        Depth of that grid in m; 0 takes the deepest layer bottom of the data.
    spline_lambda : float
        Smoothing parameter of the equal-area spline (Bishop et al. 1999; depths in cm as in
        R's mpspline2) that carries the first campaign's SOC and every campaign's drivers onto
        the grid; 0 reproduces every layer mean exactly.
    drivers : str
        Drivers between campaigns: ``interpolate`` (linear in time between a site's
        campaigns, held beyond them) or ``constant`` (each site's mean over its campaigns).
    """

    format: str = setting("auto", choices=DATA_FORMATS)
    nz: int = setting(30, ge=3, le=2000)
    depth: float = setting(0.0, ge=0, le=100)
    spline_lambda: float = setting(0.1, ge=0, le=1e6)
    drivers: str = setting("interpolate", choices=DRIVER_TIMES)


@settings()
class SOCFitConfig:
    """The whole SOC UDE fit: networks, loss, optimisation, solver and transport.

    The transport settings must match how the data were made (or be the modeller's best
    guess for real data); D and v are not learned. ``data`` (None: the defaults of
    :class:`SOCDataConfig`) says how a dataset maps onto the model grid; it is left out of the
    saved config when None, so configs written before it existed read back unchanged.
    """

    network: SOCNetworkConfig = field(default_factory=SOCNetworkConfig)
    loss: SOCLossConfig = field(default_factory=SOCLossConfig)
    train: SOCTrainConfig = field(default_factory=SOCTrainConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    transport: SOCTransportConfig = field(default_factory=SOCTransportConfig)
    data: SOCDataConfig | None = setting(None)

    @property
    def data_settings(self) -> SOCDataConfig:
        """``data``, or its defaults when not given."""
        return self.data or SOCDataConfig()
