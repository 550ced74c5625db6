"""Run settings as frozen dataclasses, loaded from and saved to TOML.

Every setting of a run lives in one of these classes. Loading rejects unknown keys with the
key's full dotted name, and each class validates its values in ``__post_init__`` so that an
impossible setting fails before any compute.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

__all__ = [
    "ConfigError",
    "HySoMiCalibrationConfig",
    "HySoMiConstraintConfig",
    "HySoMiGeneratorConfig",
    "HySoMiTrainConfig",
    "IncubationFormat",
    "NoiseConfig",
    "SOCFitConfig",
    "SOCGridConfig",
    "SOCInitialConfig",
    "SOCLossConfig",
    "SOCNetworkConfig",
    "SOCSimulationConfig",
    "SOCTrainConfig",
    "SOCTransportConfig",
    "SolverConfig",
    "from_dict",
    "load_config",
    "replace_path",
    "save_config",
    "to_dict",
]

T = TypeVar("T")

SOLVERS = ("tsit5", "dopri5", "dopri8", "kvaerno5", "implicit_euler")
ADJOINTS = ("checkpoint", "backsolve", "direct")
DTYPES = ("float32", "float64")
BOUNDARIES = ("mirror", "zero_flux")
TRUTHS = ("reference", "transport_only")
NOISE_KINDS = ("iid", "ar1")


class ConfigError(ValueError):
    """A setting is unknown or has an impossible value."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _choice(value: str, options: tuple[str, ...], name: str) -> None:
    _require(value in options, f"{name} must be one of {', '.join(options)}; got {value!r}")


def _positive(value: float, name: str) -> None:
    _require(value > 0, f"{name} must be positive; got {value!r}")


@dataclass(frozen=True)
class SolverConfig:
    """ODE solver settings shared by every model family.

    Parameters
    ----------
    solver : str
        Integrator name: ``tsit5`` (default, as in the SOC paper), ``dopri5``, ``dopri8``,
        or the implicit ``kvaerno5`` and ``implicit_euler`` for stiff settings.
    rtol, atol : float
        Relative and absolute tolerances of the adaptive step-size controller.
    max_steps : int
        Largest number of accepted steps before a solve is reported as failed.
    dtype : str
        ``float64`` (default) or ``float32``.
    adjoint : str
        Gradient strategy: ``checkpoint`` (discretise-then-optimise, default), ``backsolve``
        (optimise-then-discretise) or ``direct``.
    """

    solver: str = "tsit5"
    rtol: float = 1e-5
    atol: float = 1e-5
    max_steps: int = 100_000
    dtype: str = "float64"
    adjoint: str = "checkpoint"

    def __post_init__(self) -> None:
        _choice(self.solver, SOLVERS, "solver.solver")
        _choice(self.adjoint, ADJOINTS, "solver.adjoint")
        _choice(self.dtype, DTYPES, "solver.dtype")
        _positive(self.rtol, "solver.rtol")
        _positive(self.atol, "solver.atol")
        _require(
            isinstance(self.max_steps, int) and self.max_steps >= 1,
            f"solver.max_steps must be a positive integer; got {self.max_steps!r}",
        )


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


def to_dict(config: Any) -> dict[str, Any]:
    """Convert a config dataclass (nested) to plain TOML-ready data."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = to_dict(value)
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        elif value is not None:
            out[f.name] = value
    return out


def _coerce(value: Any, annotation: Any, path: str) -> Any:
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{path} must be a table; got {value!r}")
        return from_dict(annotation, value, prefix=f"{path}.")
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return None if value is None else _coerce(value, options[0], path)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path} must be a list; got {value!r}")
        inner = typing.get_args(annotation)[0]
        return tuple(_coerce(v, inner, path) for v in value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path} must be a number; got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path} must be an integer; got {value!r}")
        return value
    if annotation is bool and not isinstance(value, bool):
        raise ConfigError(f"{path} must be true or false; got {value!r}")
    if annotation is str and not isinstance(value, str):
        raise ConfigError(f"{path} must be a string; got {value!r}")
    return value


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build a config dataclass from plain data, rejecting unknown keys by name.

    Parameters
    ----------
    cls : type
        The dataclass to build.
    data : dict
        Plain data, as read from TOML. Missing keys take their defaults.
    prefix : str
        Dotted path of ``data`` inside the whole config, used in error messages.

    Raises
    ------
    ConfigError
        On an unknown key, a value of the wrong type or an impossible value.
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        valid = ", ".join(sorted(names))
        raise ConfigError(f"unknown config key {prefix}{unknown[0]}; valid keys here: {valid}")
    kwargs = {k: _coerce(v, hints[k], f"{prefix}{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f"invalid config for {prefix or cls.__name__}: {err}") from err


def replace_path(config: T, dotted: str, value: Any) -> T:
    """Return ``config`` with one (possibly nested) field replaced, e.g. ``"network.h1"``.

    The value is coerced and validated like a loaded one.
    """
    head, _, rest = dotted.partition(".")
    names = {f.name for f in dataclasses.fields(config)}
    if head not in names:
        raise ConfigError(
            f"unknown config key {dotted}; valid keys here: {', '.join(sorted(names))}"
        )
    current = getattr(config, head)
    if rest:
        if not dataclasses.is_dataclass(current):
            raise ConfigError(f"config key {head} has no field {rest}")
        new = replace_path(current, rest, value)
    else:
        new = _coerce(value, typing.get_type_hints(type(config))[head], dotted)
    return dataclasses.replace(config, **{head: new})


def load_config(path: str | Path, cls: type[T]) -> T:
    """Read a TOML file into the config class ``cls``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from err
    return from_dict(cls, data)


def save_config(config: Any, path: str | Path) -> Path:
    """Write a config dataclass as TOML and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(to_dict(config)))
    return path


CONSTRAINT_SETTINGS = ("synthetic", "real")
GENERATOR_ACTIVATIONS = ("relu", "tanh")


@dataclass(frozen=True)
class HySoMiConstraintConfig:
    """Which HySoMi constraint set applies and how it is thresholded (spec section 3).

    Parameters
    ----------
    setting : str
        ``synthetic`` (P1-P11, C1-C3) or ``real`` (P5-P10 removed, P11 adapted, P12 added).
    factor_labels, factor_values : tuple
        Constraint labels and their replacement factors, pairwise, e.g. ``("P6",)`` and
        ``(0.8,)`` for the misspecification study.
    temperature : float
        Softmax/sigmoid temperature of the smooth argmax and durations, relative to max B_A.
    """

    setting: str = "synthetic"
    factor_labels: tuple[str, ...] = ()
    factor_values: tuple[float, ...] = ()
    temperature: float = 0.01

    def __post_init__(self) -> None:
        from soilsciml.models.constraints import CONSTRAINT_SETS

        _choice(self.setting, CONSTRAINT_SETTINGS, "constraints.setting")
        _require(
            len(self.factor_labels) == len(self.factor_values),
            "constraints.factor_labels and constraints.factor_values must have the same length",
        )
        labels = CONSTRAINT_SETS[self.setting][0]
        for label in self.factor_labels:
            _require(
                label in labels,
                f"constraints.factor_labels: {label!r} is not in the {self.setting!r} setting "
                f"({', '.join(labels)})",
            )
        _positive(self.temperature, "constraints.temperature")

    def factors(self) -> dict[str, float]:
        """Label -> factor overrides."""
        return dict(zip(self.factor_labels, self.factor_values, strict=True))


@dataclass(frozen=True)
class HySoMiGeneratorConfig:
    """The synthetic HySoMi trait dataset (spec section 5).

    Parameters
    ----------
    n_samples : int
        Kept parameter sets (973 in the paper).
    seed : int
        Seed of the Latin hypercube, the trait network, the split and the trait noise.
    chunk_size : int
        Latin-hypercube draws simulated per compiled batch.
    max_draws : int
        Draws after which generation stops with an error if too few were kept.
    n_traits : int
        Number of traits (38 in the paper).
    generator_depth : int
        Hidden layers of the random trait network.
    generator_width : int
        Units per hidden layer (DECIDED default 64).
    generator_activation : str
        ``relu`` (paper default) or ``tanh`` (generator-mismatch variant).
    trait_min, trait_max : float
        Range the sigmoid outputs are scaled to.
    trait_noise : float
        Standard deviation of Gaussian noise added to the traits (0 for none).
    """

    n_samples: int = 973
    seed: int = 0
    chunk_size: int = 2048
    max_draws: int = 400_000
    n_traits: int = 38
    generator_depth: int = 3
    generator_width: int = 64
    generator_activation: str = "relu"
    trait_min: float = 5.0
    trait_max: float = 200.0
    trait_noise: float = 0.0
    constraints: HySoMiConstraintConfig = field(default_factory=HySoMiConstraintConfig)
    solver: SolverConfig = field(
        default_factory=lambda: SolverConfig(rtol=1e-6, atol=1e-9, max_steps=20_000)
    )

    def __post_init__(self) -> None:
        for name in ("n_samples", "chunk_size", "max_draws", "n_traits", "generator_width"):
            value = getattr(self, name)
            _require(
                isinstance(value, int) and value >= 1,
                f"{name} must be a positive integer; got {value!r}",
            )
        _require(
            isinstance(self.generator_depth, int) and self.generator_depth >= 0,
            f"generator_depth must be a non-negative integer; got {self.generator_depth!r}",
        )
        _require(
            self.n_samples >= 3, f"n_samples must be >= 3 (three splits); got {self.n_samples}"
        )
        _choice(self.generator_activation, GENERATOR_ACTIVATIONS, "generator_activation")
        _require(
            self.trait_min < self.trait_max,
            f"trait_min must be below trait_max; got {self.trait_min}, {self.trait_max}",
        )
        _require(self.trait_noise >= 0, f"trait_noise must be >= 0; got {self.trait_noise}")


@dataclass(frozen=True)
class IncubationFormat:
    """How an incubation file is laid out and which units it uses (``data.incubation``).

    Parameters
    ----------
    time_column, co2_column : str
        Names of the time and CO2 columns.
    time_unit : str
        ``min``, ``h`` or ``d``.
    co2_unit, biomass_unit : str
        Carbon per g soil: ``mg/g``, ``g/kg``, ``ug/g``, ``mg/kg``, ``umol/g`` or ``mmol/g``;
        for a rate series the CO2 column is in ``co2_unit`` per ``time_unit``.
    co2_kind : str
        ``cumulative`` or ``rate``.
    biomass_column : str or None
        Column of microbial biomass carbon (B_A + B_D), if observed.
    series_column : str
        Column grouping rows into series (absent: one series).
    min_times : int
        Fewest distinct observation times a series needs.
    """

    time_column: str = "time"
    time_unit: str = "h"
    co2_column: str = "co2"
    co2_unit: str = "mg/g"
    co2_kind: str = "cumulative"
    biomass_column: str | None = None
    biomass_unit: str = "mg/g"
    series_column: str = "series"
    min_times: int = 3

    def __post_init__(self) -> None:
        from soilsciml.data.incubation import CARBON_UNITS, CO2_KINDS, TIME_UNITS

        _choice(self.time_unit, tuple(TIME_UNITS), "data.time_unit")
        _choice(self.co2_unit, tuple(CARBON_UNITS), "data.co2_unit")
        _choice(self.biomass_unit, tuple(CARBON_UNITS), "data.biomass_unit")
        _choice(self.co2_kind, CO2_KINDS, "data.co2_kind")
        _require(
            isinstance(self.min_times, int) and self.min_times >= 2,
            f"data.min_times must be an integer >= 2; got {self.min_times!r}",
        )


def _initial_pools() -> tuple[float, ...]:
    from soilsciml.models.hysomi import INITIAL_STATE

    return tuple(float(v) for v in INITIAL_STATE)


@dataclass(frozen=True)
class HySoMiCalibrationConfig:
    """Calibration of the HySoMi PBM parameters to incubation series (spec section 7).

    Parameters
    ----------
    data : IncubationFormat
        Columns and units of the input file.
    initial : tuple of float
        The six pools at t = 0 in mg C/g, in the order B_A, B_D, C_H, C_L, C_LS, CO2
        (CO2 must be 0: cumulative series are offset to start at 0).
    n_starts : int
        Latin-hypercube starts per series.
    adam_steps, polish_steps : int
        Adam iterations on every start; BFGS iterations on the best one (0: no polish).
    learning_rate : float
        Adam step size on the unbounded parameters.
    constraint_weight, biomass_weight : float
        Weights of the relative constraint violations and of the biomass misfit, relative to
        the CO2 misfit (mean squared error over the observations' variance).
    seed : int
        Seed of the starts.
    constraints : HySoMiConstraintConfig
        Constraint set (default: the real-data set).
    solver : SolverConfig
        ODE solver settings.
    """

    data: IncubationFormat = field(default_factory=IncubationFormat)
    initial: tuple[float, ...] = field(default_factory=_initial_pools)
    n_starts: int = 8
    adam_steps: int = 300
    polish_steps: int = 200
    learning_rate: float = 0.05
    constraint_weight: float = 1.0
    biomass_weight: float = 1.0
    seed: int = 0
    constraints: HySoMiConstraintConfig = field(
        default_factory=lambda: HySoMiConstraintConfig(setting="real")
    )
    solver: SolverConfig = field(
        default_factory=lambda: SolverConfig(rtol=1e-6, atol=1e-9, max_steps=4096)
    )

    def __post_init__(self) -> None:
        _require(len(self.initial) == 6, f"initial must hold 6 pools; got {len(self.initial)}")
        _require(
            all(v >= 0 and v < float("inf") for v in self.initial),
            f"initial pools must be finite and >= 0; got {self.initial}",
        )
        _require(self.initial[5] == 0, "initial CO2 must be 0 (series are offset to start at 0)")
        _require(sum(self.initial[:2]) > 0, "initial biomass B_A + B_D must be positive")
        for name in ("n_starts", "adam_steps"):
            value = getattr(self, name)
            _require(
                isinstance(value, int) and value >= 1,
                f"{name} must be a positive integer; got {value!r}",
            )
        _require(
            isinstance(self.polish_steps, int) and self.polish_steps >= 0,
            f"polish_steps must be a non-negative integer; got {self.polish_steps!r}",
        )
        _positive(self.learning_rate, "learning_rate")
        for name in ("constraint_weight", "biomass_weight"):
            _require(getattr(self, name) >= 0, f"{name} must be >= 0; got {getattr(self, name)}")


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
    """Training loss of the SOC UDE (spec section 5).

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


HYSOMI_MODELS = ("hysomi", "unconstrained", "all_states", "ml")
LOSS_WEIGHTINGS = ("adaptive", "balanced", "normalised")


@dataclass(frozen=True)
class HySoMiTrainConfig:
    """Training of one compared HySoMi model on a trait dataset (spec sections 4 and 6).

    Parameters
    ----------
    model : str
        ``hysomi`` (CO2 MSE and the constraint losses), ``unconstrained`` (CO2 MSE),
        ``all_states`` (MSE on all six pools) or ``ml`` (traits -> CO2 directly, no PBM).
    loss_weighting : str
        How ``hysomi`` weighs its terms: ``adaptive`` (learnable uncertainty weights),
        ``balanced`` (all 1) or ``normalised`` (terms over their running magnitudes). The
        other models have one term.
    epochs : int
        Largest number of epochs (DECIDED 300).
    learning_rate : float
        Initial Adam step size.
    decay_rate, decay_epochs : float, int
        Step decay: the step size is multiplied by ``decay_rate`` every ``decay_epochs``.
    batch_size : int
        Samples per step; the last partial batch is padded and masked.
    patience : int
        Epochs without a better validation loss before training stops.
    width, depth : int
        Hidden units and hidden layers of the network (DECIDED 64, paper 5).
    n_train : int
        Training samples used, the first of the training split (0 for all of them).
    seed : int
        Seed of the initial weights and the batch order.
    constraints : HySoMiConstraintConfig
        Constraint set and soft-loss temperature of the ``hysomi`` loss and the metrics.
    solver : SolverConfig
        PBM solver during training and prediction.
    """

    model: str = "hysomi"
    loss_weighting: str = "adaptive"
    epochs: int = 300
    learning_rate: float = 0.005
    decay_rate: float = 0.9
    decay_epochs: int = 10
    batch_size: int = 256
    patience: int = 30
    width: int = 64
    depth: int = 5
    n_train: int = 0
    seed: int = 0
    constraints: HySoMiConstraintConfig = field(default_factory=HySoMiConstraintConfig)
    solver: SolverConfig = field(
        default_factory=lambda: SolverConfig(rtol=1e-5, atol=1e-7, max_steps=4096)
    )

    def __post_init__(self) -> None:
        _choice(self.model, HYSOMI_MODELS, "model")
        _choice(self.loss_weighting, LOSS_WEIGHTINGS, "loss_weighting")
        for name in ("epochs", "decay_epochs", "batch_size", "patience", "width", "depth"):
            value = getattr(self, name)
            _require(
                isinstance(value, int) and value >= 1,
                f"{name} must be a positive integer; got {value!r}",
            )
        _require(
            isinstance(self.n_train, int) and self.n_train >= 0,
            f"n_train must be a non-negative integer; got {self.n_train!r}",
        )
        _positive(self.learning_rate, "learning_rate")
        _require(0 < self.decay_rate <= 1, f"decay_rate must lie in (0, 1]; got {self.decay_rate}")
