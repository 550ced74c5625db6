"""Settings of the HySoMi microbial model: constraints, generator, calibration, training."""

from __future__ import annotations

from dataclasses import dataclass, field

from soilsciml.config.base import SolverConfig, _choice, _positive, _require

#: Time unit -> hours per unit.
TIME_UNITS: dict[str, float] = {"min": 1.0 / 60.0, "h": 1.0, "d": 24.0}

#: Carbon unit (per g soil) -> mg C/g per unit; 1 umol C = 12.011 ug C.
CARBON_UNITS: dict[str, float] = {
    "mg/g": 1.0,
    "g/kg": 1.0,
    "ug/g": 1e-3,
    "mg/kg": 1e-3,
    "umol/g": 0.012011,
    "mmol/g": 12.011,
}

CO2_KINDS = ("cumulative", "rate")

__all__ = [
    "CARBON_UNITS",
    "CO2_KINDS",
    "CONSTRAINT_SETTINGS",
    "GENERATOR_ACTIVATIONS",
    "HYSOMI_MODELS",
    "LOSS_WEIGHTINGS",
    "TIME_UNITS",
    "HySoMiCalibrationConfig",
    "HySoMiConstraintConfig",
    "HySoMiGeneratorConfig",
    "HySoMiTrainConfig",
    "IncubationFormat",
]

CONSTRAINT_SETTINGS = ("synthetic", "real")
GENERATOR_ACTIVATIONS = ("relu", "tanh")


@dataclass(frozen=True)
class HySoMiConstraintConfig:
    """Which HySoMi constraint set applies and how it is thresholded.

    See [HySoMi science: constraints][hysomi-constraints].

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
    """The synthetic HySoMi trait dataset ([HySoMi science: dataset][hysomi-dataset]).

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
    """Calibration of the HySoMi PBM parameters to incubation series.

    See [HySoMi science: real data][hysomi-real-data].

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


HYSOMI_MODELS = ("hysomi", "unconstrained", "all_states", "ml")
LOSS_WEIGHTINGS = ("adaptive", "balanced", "normalised")


@dataclass(frozen=True)
class HySoMiTrainConfig:
    """Training of one compared HySoMi model on a trait dataset.

    See [HySoMi science: loss][hysomi-loss] and [models][hysomi-models].

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
