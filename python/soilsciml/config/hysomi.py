"""Settings of the HySoMi microbial model: constraints, generator, calibration, training."""

from __future__ import annotations

from dataclasses import field

from soilsciml.config.base import SolverConfig, _require
from soilsciml.config.domain import MAX_SEED, Domain, setting, settings
from soilsciml.config.domain import setting as _setting
from soilsciml.models.hysomi import PARAM_NAMES

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
    "CALIBRATION_CHANNELS",
    "CARBON_UNITS",
    "CO2_KINDS",
    "CONSTRAINT_SETTINGS",
    "GENERATOR_ACTIVATIONS",
    "HYSOMI_MODELS",
    "LOSS_WEIGHTINGS",
    "NOISE_MODELS",
    "SELECTIONS",
    "STEP_CONTROLLERS",
    "TIME_UNITS",
    "UNCERTAINTY_METHODS",
    "HySoMiCalibrationConfig",
    "HySoMiConstraintConfig",
    "HySoMiGeneratorConfig",
    "HySoMiTrainConfig",
    "HySoMiTrialConfig",
    "IncubationFormat",
]

CONSTRAINT_SETTINGS = ("synthetic", "real")
GENERATOR_ACTIVATIONS = ("relu", "tanh")


@settings("constraints")
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

    # ``_setting`` is ``setting``: the field named ``setting`` shadows it in this class body.
    setting: str = _setting("synthetic", choices=CONSTRAINT_SETTINGS)
    factor_labels: tuple[str, ...] = _setting(
        (), max_items=32, note="labels of constraints in the chosen setting (P1-P12, C1-C3)"
    )
    factor_values: tuple[float, ...] = _setting((), max_items=32, items=Domain(gt=0, le=100))
    temperature: float = _setting(0.01, gt=0, le=10)

    def __post_init__(self) -> None:
        from soilsciml.models.constraints import CONSTRAINT_SETS

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

    def factors(self) -> dict[str, float]:
        """Label -> factor overrides."""
        return dict(zip(self.factor_labels, self.factor_values, strict=True))


@settings()
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

    n_samples: int = setting(973, ge=3, le=1_000_000)
    seed: int = setting(0, ge=0, le=MAX_SEED)
    chunk_size: int = setting(2048, ge=1, le=65_536)
    max_draws: int = setting(400_000, ge=1, le=100_000_000)
    n_traits: int = setting(38, ge=1, le=10_000)
    generator_depth: int = setting(3, ge=0, le=64)
    generator_width: int = setting(64, ge=1, le=4096)
    generator_activation: str = setting("relu", choices=GENERATOR_ACTIVATIONS)
    trait_min: float = setting(5.0, ge=-1e6, le=1e6)
    trait_max: float = setting(200.0, ge=-1e6, le=1e6)
    trait_noise: float = setting(0.0, ge=0, le=1e6)
    constraints: HySoMiConstraintConfig = field(default_factory=HySoMiConstraintConfig)
    solver: SolverConfig = field(
        default_factory=lambda: SolverConfig(rtol=1e-6, atol=1e-9, max_steps=20_000)
    )

    def __post_init__(self) -> None:
        _require(
            self.trait_min < self.trait_max,
            f"trait_min must be below trait_max; got {self.trait_min}, {self.trait_max}",
        )


@settings("data")
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
    kec : float
        Extraction efficiency of the biomass column: biomass C = column / kec (0.45 for
        chloroform-labile C from fumigation-extraction; 1 when the column is biomass C).
    glucose_column : str or None
        Column of measured glucose or dissolved organic carbon, compared with C_L.
    glucose_unit : str
        Its carbon unit.
    rate_column : str or None
        Column of measured respiration rates (``co2_unit`` per ``rate_time_unit``), compared
        with dCO2/dt, besides a cumulative CO2 column.
    rate_time_unit : str or None
        Time unit of the rates (of the rate column, or of a rate CO2 column); None: the
        ``time_unit``.
    series_column : str
        Column grouping rows into series (absent: one series).
    min_times : int
        Fewest distinct observation times a series needs.
    max_days : float
        Longest series accepted, in days from the pulse (refused before any compute: a
        typing slip in the time unit, not an incubation).
    """

    time_column: str = setting("time")
    time_unit: str = setting("h", choices=tuple(TIME_UNITS))
    co2_column: str = setting("co2")
    co2_unit: str = setting("mg/g", choices=tuple(CARBON_UNITS))
    co2_kind: str = setting("cumulative", choices=CO2_KINDS)
    biomass_column: str | None = setting(None)
    biomass_unit: str = setting("mg/g", choices=tuple(CARBON_UNITS))
    kec: float = setting(1.0, gt=0, le=1)
    glucose_column: str | None = setting(None)
    glucose_unit: str = setting("mg/g", choices=tuple(CARBON_UNITS))
    rate_column: str | None = setting(None)
    rate_time_unit: str | None = setting(None, choices=tuple(TIME_UNITS))
    series_column: str = setting("series")
    min_times: int = setting(3, ge=2, le=100_000)
    max_days: float = setting(1000.0, gt=0, le=3650)

    def __post_init__(self) -> None:
        _require(
            self.rate_column is None or self.co2_kind == "cumulative",
            "data.rate_column is for a cumulative CO2 column; a rate CO2 column is fitted as "
            "rates already",
        )


def _initial_pools() -> tuple[float, ...]:
    from soilsciml.models.hysomi import INITIAL_STATE

    return tuple(float(v) for v in INITIAL_STATE)


#: Observation channels of a calibration (``co2`` cumulative, ``co2_rate`` dCO2/dt,
#: ``biomass`` B_A + B_D, ``glucose`` C_L).
CALIBRATION_CHANNELS = ("co2", "co2_rate", "biomass", "glucose")
NOISE_MODELS = ("constant", "proportional", "replicates")
UNCERTAINTY_METHODS = ("none", "profile", "mcmc")


def _calibration_solver() -> SolverConfig:
    return SolverConfig(solver="kvaerno5", rtol=1e-5, atol=1e-8, max_steps=4096, adjoint="forward")


@settings()
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
    held_out : tuple of str
        Channels compared with the fit but not fitted (validation): ``co2``, ``co2_rate``,
        ``biomass``, ``glucose``. A rate CO2 column always holds out its integrated ``co2``.
    noise : str
        Observation noise model giving each residual's sigma: ``constant`` (one sigma per
        channel, estimated from the residuals), ``proportional`` (sigma = c max(|y|, floor),
        c estimated) or ``replicates`` (the replicates' standard deviation at each time).
    noise_floor : float
        Smallest sigma scale as a fraction of the channel's largest |value|.
    n_screen : int
        Latin-hypercube candidates (unbounded transform, [-3, 3]) whose chi2 is screened.
    n_starts : int
        Best candidates Levenberg-Marquardt starts from, per series (at most ``n_screen``).
    explore_steps, max_steps : int
        Levenberg-Marquardt iterations at most from every start, then from the best one.
    lm_rtol, lm_atol : float
        Stop when an accepted step lowers chi2 by less than ``lm_rtol`` chi2, or when no
        unbounded parameter moves by more than ``lm_atol``.
    constraint_weight : float
        Weight of the squared relative constraint violations (a 1 % violation costs as much
        as one observation one sigma off at weight 1).
    constraint_points : int
        Save points, spread geometrically over each series, where the constraints are
        evaluated during the fit (besides the observation times).
    uncertainty : str
        ``none``, ``profile`` (profile-likelihood intervals) or ``mcmc`` (NUTS posterior).
    level : float
        Level of the intervals and bands.
    profile_points : int
        Re-fits per side of each profile (doubling steps out from the estimate until chi2
        rises by the level's quantile, then bisection), plus the box edge.
    profile_steps : int
        Levenberg-Marquardt iterations at most at each profile point.
    profile_parameters : tuple of str
        Parameters profiled (empty: all 13; the others get no interval).
    mcmc_chains, mcmc_warmup, mcmc_samples, mcmc_tree_depth : int
        NUTS chains, warm-up and kept draws per chain, largest tree depth.
    mcmc_parameters : tuple of str
        Parameters NUTS samples; the others are held at the point estimate (a conditional
        posterior) and get no interval. Empty (default): per series, the identifiable set of
        the fitted channels (collinearity analysis); list all 13 for the full posterior,
        which mixes slowly where the data leave parameters unidentified.
    band_draws : int
        Posterior draws simulated for the predictive bands.
    collinearity_threshold : float
        Largest collinearity index of an identifiable parameter subset (Brun et al. 2001).
    seed : int
        Seed of the screen and the sampler.
    constraints : HySoMiConstraintConfig
        Constraint set (default: the real-data set).
    solver : SolverConfig
        ODE solver settings (default Kvaerno5, stiff-safe, forward-mode derivatives).
    """

    data: IncubationFormat = field(default_factory=IncubationFormat)
    initial: tuple[float, ...] = setting(
        factory=_initial_pools, length=6, items=Domain(ge=0, le=1000)
    )
    held_out: tuple[str, ...] = setting((), max_items=4, items=Domain(choices=CALIBRATION_CHANNELS))
    noise: str = setting("constant", choices=NOISE_MODELS)
    noise_floor: float = setting(0.01, gt=0, lt=1, fraction=True)
    n_screen: int = setting(128, ge=1, le=100_000)
    n_starts: int = setting(4, ge=1, le=1024)
    explore_steps: int = setting(30, ge=1, le=100_000)
    max_steps: int = setting(100, ge=1, le=100_000)
    lm_rtol: float = setting(1e-6, gt=0, lt=1)
    lm_atol: float = setting(1e-8, gt=0, lt=1)
    constraint_weight: float = setting(1.0, ge=0, le=1e6)
    constraint_points: int = setting(24, ge=1, le=10_000)
    uncertainty: str = setting("none", choices=UNCERTAINTY_METHODS)
    level: float = setting(0.95, gt=0, lt=1, fraction=True)
    profile_points: int = setting(8, ge=1, le=100)
    profile_steps: int = setting(60, ge=1, le=100_000)
    profile_parameters: tuple[str, ...] = setting(
        (), max_items=13, items=Domain(choices=PARAM_NAMES)
    )
    mcmc_chains: int = setting(4, ge=1, le=256)
    mcmc_warmup: int = setting(200, ge=1, le=1_000_000)
    mcmc_samples: int = setting(200, ge=1, le=1_000_000)
    mcmc_tree_depth: int = setting(6, ge=1, le=12)
    mcmc_parameters: tuple[str, ...] = setting((), max_items=13, items=Domain(choices=PARAM_NAMES))
    band_draws: int = setting(100, ge=1, le=100_000)
    collinearity_threshold: float = setting(15.0, gt=1, le=1e6)
    seed: int = setting(0, ge=0, le=MAX_SEED)
    constraints: HySoMiConstraintConfig = field(
        default_factory=lambda: HySoMiConstraintConfig(setting="real")
    )
    solver: SolverConfig = field(default_factory=_calibration_solver)

    def __post_init__(self) -> None:
        _require(self.initial[5] == 0, "initial CO2 must be 0 (series are offset to start at 0)")
        _require(sum(self.initial[:2]) > 0, "initial biomass B_A + B_D must be positive")


HYSOMI_MODELS = ("hysomi", "unconstrained", "all_states", "ml")
LOSS_WEIGHTINGS = ("adaptive", "balanced", "normalised")
#: Validation criteria of early stopping and the kept epoch (``engines.jax.hysomi_train``).
SELECTIONS = ("co2_constraints", "co2", "objective")
#: Step-size controllers of the PBM solve (``engines.jax.solve.CONTROLLERS``).
STEP_CONTROLLERS = ("pi", "integral")


@settings()
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
        Epochs without a better validation criterion before training stops.
    selection : str
        The validation criterion that early stopping watches and whose best epoch is kept,
        the same for every model: ``co2_constraints`` (CO2 MSE plus the unweighted sum of
        the mean soft constraint violations; CO2 MSE alone for ``ml``), ``co2`` (CO2 MSE) or
        ``objective`` (the model's own training loss on the validation split, which for
        ``adaptive`` weighting moves with the learned weights).
    width, depth : int
        Hidden units and hidden layers of the network (DECIDED 64, paper 5).
    n_train : int
        Training samples used, the first of the training split (0 for all of them).
    seed : int
        Seed of the initial weights and the batch order.
    constraints : HySoMiConstraintConfig
        Constraint set and soft-loss temperature of the ``hysomi`` loss and the metrics.
    solver : SolverConfig
        PBM solver during training and prediction; its ``controller`` must stay at its
        default (``step_controller`` chooses the controller here).
    step_controller : str
        Step-size controller of the PBM solve: ``pi`` (fewer rejected steps) or
        ``integral`` (diffrax's default).
    solve_chunk : int
        Samples per vmapped PBM solve; a batch is solved in consecutive chunks of this size,
        ordered by each sample's steps in the previous epoch, so that no chunk waits long for
        its slowest sample (0: the whole batch in one solve).
    """

    model: str = setting("hysomi", choices=HYSOMI_MODELS)
    loss_weighting: str = setting("adaptive", choices=LOSS_WEIGHTINGS)
    epochs: int = setting(300, ge=1, le=100_000)
    learning_rate: float = setting(0.005, gt=0, le=10)
    decay_rate: float = setting(0.9, gt=0, le=1)
    decay_epochs: int = setting(10, ge=1, le=100_000)
    batch_size: int = setting(256, ge=1, le=65_536)
    patience: int = setting(30, ge=1, le=100_000)
    width: int = setting(64, ge=1, le=4096)
    depth: int = setting(5, ge=1, le=64)
    n_train: int = setting(0, ge=0, le=10_000_000)
    seed: int = setting(0, ge=0, le=MAX_SEED)
    constraints: HySoMiConstraintConfig = field(default_factory=HySoMiConstraintConfig)
    solver: SolverConfig = field(
        default_factory=lambda: SolverConfig(rtol=1e-5, atol=1e-7, max_steps=4096)
    )
    selection: str = setting("co2_constraints", choices=SELECTIONS)
    step_controller: str = setting("pi", choices=STEP_CONTROLLERS)
    solve_chunk: int = setting(32, ge=0, le=65_536)

    def __post_init__(self) -> None:
        _require(
            self.solver.controller == "integral",
            "solver.controller is not used by HySoMi training: set step_controller "
            f"(got solver.controller = {self.solver.controller!r})",
        )


@settings()
class HySoMiTrialConfig:
    """One trial of a HySoMi grid (trial kind ``hysomi_fit``): a training run on a named
    dataset, scored on the test splits of named datasets.

    The names are keys of the grid's ``[data] datasets`` table (name -> NetCDF path), so a
    grid can sweep the dataset as it sweeps any setting.

    Parameters
    ----------
    dataset : str
        The dataset trained on.
    score_on : tuple of str
        Datasets whose test split scores the trained model, besides its own.
    train : HySoMiTrainConfig
        The training run; its ``seed`` is used as given (a grid axis for paired seeds).
    """

    dataset: str = setting("default", note="a key of the grid's [data] datasets table")
    score_on: tuple[str, ...] = setting(
        (), max_items=64, note="keys of the grid's [data] datasets table"
    )
    train: HySoMiTrainConfig = field(default_factory=HySoMiTrainConfig)

    def __post_init__(self) -> None:
        _require(
            self.dataset not in self.score_on,
            f"score_on lists the trained dataset {self.dataset!r}; it is always scored",
        )
