"""Settings of the SOC depth-profile model: simulation, noise and the UDE fit."""

from __future__ import annotations

from dataclasses import dataclass, field

from soilsciml.config.base import SolverConfig, _choice, _positive, _require

__all__ = [
    "ACTIVATIONS",
    "BOUNDARIES",
    "HEADS",
    "INPUT_SCALINGS",
    "NOISE_KINDS",
    "SECOND_STAGES",
    "SOC_DATA_LOSSES",
    "SOC_TARGETS",
    "TRUTHS",
    "NoiseConfig",
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

BOUNDARIES = ("mirror", "zero_flux")
TRUTHS = ("reference", "transport_only")
NOISE_KINDS = ("iid", "ar1")


@dataclass(frozen=True)
class SOCGridConfig:
    """Depth grid of the method of lines.

    Parameters
    ----------
    nz : int
        Number of uniformly spaced grid points, both ends included.
    depth : float
        Profile depth H in m (positive down).
    """

    nz: int = 30
    depth: float = 1.0

    def __post_init__(self) -> None:
        _require(
            isinstance(self.nz, int) and self.nz >= 3, f"grid.nz must be >= 3; got {self.nz!r}"
        )
        _positive(self.depth, "grid.depth")


@dataclass(frozen=True)
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

    diffusion: float = 1e-3
    advection: float = 1e-3
    boundary: str = "mirror"

    def __post_init__(self) -> None:
        _require(self.diffusion >= 0, f"transport.diffusion must be >= 0; got {self.diffusion}")
        _choice(self.boundary, BOUNDARIES, "transport.boundary")


@dataclass(frozen=True)
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

    surface: float = 1.2
    decay: float = 0.02
    depth_scale: float = 100.0

    def __post_init__(self) -> None:
        _require(self.surface >= 0, f"initial.surface must be >= 0; got {self.surface}")


@dataclass(frozen=True)
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

    truth: str = "reference"
    years: float = 50.0
    output_step: float = 1.0
    grid: SOCGridConfig = field(default_factory=SOCGridConfig)
    transport: SOCTransportConfig = field(default_factory=SOCTransportConfig)
    initial: SOCInitialConfig = field(default_factory=SOCInitialConfig)
    solver: SolverConfig = field(default_factory=lambda: SolverConfig(rtol=1e-8, atol=1e-10))

    def __post_init__(self) -> None:
        _choice(self.truth, TRUTHS, "truth")
        _positive(self.years, "years")
        _positive(self.output_step, "output_step")


@dataclass(frozen=True)
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

    level: float = 0.07
    kind: str = "ar1"
    rho: float = 0.8
    seed: int = 0
    variables: tuple[str, ...] = ("soc", "ph", "cec", "clay")

    def __post_init__(self) -> None:
        _require(self.level >= 0, f"noise.level must be >= 0; got {self.level}")
        _choice(self.kind, NOISE_KINDS, "noise.kind")
        _require(-1 < self.rho < 1, f"noise.rho must lie in (-1, 1); got {self.rho}")


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
        isinstance(holdout, str) and holdout.isdigit() and int(holdout) >= 2,
        f"train.holdout must be 'none', 'every_fourth_depth' or a stride >= 2 as a string; "
        f"got {holdout!r}",
    )
    return int(holdout)


@dataclass(frozen=True)
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

    h1: int = 32
    h2: int = 16
    activation: str = "gelu"
    head: str = "softplus"
    head_scale: float = 1.0
    input_scaling: str = "paper"

    def __post_init__(self) -> None:
        for name in ("h1", "h2"):
            value = getattr(self, name)
            _require(
                isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                f"network.{name} must be a positive integer; got {value!r}",
            )
        _choice(self.activation, ACTIVATIONS, "network.activation")
        _choice(self.head, HEADS, "network.head")
        _positive(self.head_scale, "network.head_scale")
        _choice(self.input_scaling, INPUT_SCALINGS, "network.input_scaling")


@dataclass(frozen=True)
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

    target: str = "terminal"
    kind: str = "mse"
    lambda_term: float = 1.0
    lambda_coll: float = 0.0
    lambda_wd: float = 0.0
    epsilon_rollout: float = 1.0
    collocation_bandwidth: float = 1.0
    huber_delta: float = 0.05
    student_dof: float = 4.0
    learn_dof: bool = False
    noise_eta: float = 0.0
    learn_eta: bool = False
    noise_floor: float = 0.01

    def __post_init__(self) -> None:
        _choice(self.target, SOC_TARGETS, "loss.target")
        for name in ("huber_delta", "student_dof", "noise_floor"):
            _positive(getattr(self, name), f"loss.{name}")
        _require(self.noise_eta >= 0, f"loss.noise_eta must be >= 0; got {self.noise_eta}")
        _choice(self.kind, SOC_DATA_LOSSES, "loss.kind")
        for name in ("lambda_term", "lambda_coll", "lambda_wd"):
            _require(getattr(self, name) >= 0, f"loss.{name} must be >= 0")
        _positive(self.epsilon_rollout, "loss.epsilon_rollout")
        _positive(self.collocation_bandwidth, "loss.collocation_bandwidth")


@dataclass(frozen=True)
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

    adam_iters: int = 200
    lr: float = 3e-3
    second_stage: str = "bfgs"
    second_iters: int = 400
    patience: int = 50
    min_delta: float = 1e-4
    seed: int = 0
    holdout: str = "none"

    def __post_init__(self) -> None:
        holdout_stride(self.holdout)
        for name in ("adam_iters", "second_iters"):
            value = getattr(self, name)
            _require(isinstance(value, int) and value >= 0, f"train.{name} must be an integer >= 0")
        _positive(self.lr, "train.lr")
        _choice(self.second_stage, SECOND_STAGES, "train.second_stage")
        _require(
            isinstance(self.patience, int) and self.patience >= 1,
            f"train.patience must be a positive integer; got {self.patience!r}",
        )
        _require(self.min_delta >= 0, f"train.min_delta must be >= 0; got {self.min_delta}")


@dataclass(frozen=True)
class SOCFitConfig:
    """The whole SOC UDE fit: networks, loss, optimisation, solver and transport.

    The transport settings must match how the data were made (or be the modeller's best
    guess for real data); D and v are not learned.
    """

    network: SOCNetworkConfig = field(default_factory=SOCNetworkConfig)
    loss: SOCLossConfig = field(default_factory=SOCLossConfig)
    train: SOCTrainConfig = field(default_factory=SOCTrainConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    transport: SOCTransportConfig = field(default_factory=SOCTransportConfig)
