"""End-to-end HySoMi training through the batched PBM solve.

See [HySoMi science: models][hysomi-models].

Arrays in, arrays out: :func:`train` takes traits and pools of the training and validation
splits as numpy arrays and a :class:`~soilsciml.config.HySoMiTrainConfig`; it returns a
:class:`TrainedModel` (everything prediction needs) and the per-epoch history. One train step
and one evaluation step are compiled once per shapes and :func:`compile_key`, shared by every
fit in the process (grid trials, ensemble members): every batch has the same shape (the last
partial batch is padded and masked), the step size is an input, and the PBM solve is vmapped
over the batch inside them. :data:`TRACES` counts the compilations.

A sample whose solve fails (``engines.base.SOLVE_MESSAGES``) is masked out of the loss, so
its gradient is zero, and counted in the history; non-finite gradient entries are zeroed.
"""

from __future__ import annotations

import collections
import dataclasses
from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from soilsciml.config import HySoMiTrainConfig, SolverConfig
from soilsciml.engines.jax.hysomi_loss import OBJECTIVES, WEIGHTINGS
from soilsciml.engines.jax.hysomi_net import NormStatistics, TraitNetwork, init_statistics
from soilsciml.engines.jax.pbm import simulate_states
from soilsciml.models import constraints as cons
from soilsciml.models import hysomi as model

__all__ = [
    "TRACES",
    "TrainedModel",
    "compile_key",
    "evaluate",
    "predict",
    "skeleton",
    "train",
    "train_step",
]

_CO2 = model.STATE_NAMES.index("CO2")


class TrainedModel(eqx.Module):
    """A trained compared model: network, running statistics, loss weights, standardisation.

    ``trait_mean`` / ``trait_std`` standardise the traits (fitted on the training split);
    ``co2_mean`` (nt,) and ``co2_scale`` map the ``ml`` network's outputs to CO2 in mg C/g.
    """

    network: TraitNetwork
    statistics: NormStatistics
    loss_scales: jax.Array
    trait_mean: jax.Array
    trait_std: jax.Array
    co2_mean: jax.Array
    co2_scale: jax.Array
    kind: str = eqx.field(static=True)


def skeleton(config: HySoMiTrainConfig, n_traits: int, n_times: int) -> TrainedModel:
    """A fresh (untrained) model of the right shapes, seeded by ``config.seed``."""
    dtype = jnp.dtype(config.solver.dtype)
    n_out = n_times if config.model == "ml" else len(model.PARAM_NAMES)
    network = TraitNetwork(
        n_traits, n_out, config.width, config.depth, jax.random.PRNGKey(config.seed), dtype
    )
    n_terms = len(cons.term_names(config.model, _constraints(config)))
    return TrainedModel(
        network=network,
        statistics=init_statistics(network),
        loss_scales=jnp.ones(n_terms, dtype),
        trait_mean=jnp.zeros(n_traits, dtype),
        trait_std=jnp.ones(n_traits, dtype),
        co2_mean=jnp.zeros(n_times, dtype),
        co2_scale=jnp.ones((), dtype),
        kind=config.model,
    )


def _constraints(config: HySoMiTrainConfig) -> tuple[cons.Constraint, ...]:
    return cons.constraint_set(config.constraints.setting, config.constraints.factors())


def _weighting(config: HySoMiTrainConfig):
    """The loss weighting: the configured one for ``hysomi``; the one-term models sum."""
    return WEIGHTINGS[config.loss_weighting if config.model == "hysomi" else "balanced"]


def _forward(trained: TrainedModel, traits, mask, training: bool, times, solver: SolverConfig):
    """Pools (n, nt, 6), parameters (n, 13), solve codes (n,) and updated statistics."""
    x = (traits - trained.trait_mean) / trained.trait_std
    out, statistics = trained.network(x, trained.statistics, mask, training)
    n = traits.shape[0]
    if trained.kind == "ml":
        co2 = trained.co2_mean + trained.co2_scale * out
        states = jnp.full((n, times.size, len(model.STATE_NAMES)), jnp.nan, out.dtype)
        states = states.at[..., _CO2].set(co2)
        return states, jnp.full((n, len(model.PARAM_NAMES)), jnp.nan, out.dtype), None, statistics
    params = model.to_box(out, jnp).astype(out.dtype)
    initial = jnp.broadcast_to(
        jnp.asarray(model.INITIAL_STATE, out.dtype), (n, len(model.STATE_NAMES))
    )
    states, codes, _ = simulate_states(params, initial, times, solver)
    return states, params, codes, statistics


def _terms(trained, traits, targets, mask, running, training, times, config, constraints):
    """Weighted loss and (terms, updated batch statistics, running magnitudes, failures)."""
    states, params, codes, statistics = _forward(
        trained, traits, mask, training, times, config.solver
    )
    solved = jnp.ones_like(mask, dtype=bool) if codes is None else codes == 0
    valid = mask * solved
    # A failed sample gets the target in place of its trajectory: zero error, zero gradient.
    safe = jnp.where(solved[:, None, None], states, targets)
    if config.model == "ml":
        safe = jnp.where(jnp.isnan(safe), targets, safe)
    terms = OBJECTIVES[config.model](
        safe, targets, params, times, valid, constraints, config.constraints.temperature
    )
    loss, running = _weighting(config)(terms, trained.loss_scales, running)
    n_failed = jnp.sum(mask * (~solved))
    return loss, (terms, statistics, running, n_failed)


def _is_trainable(trained: TrainedModel) -> TrainedModel:
    """Filter spec: the network's arrays and the loss scales train; the rest is frozen."""
    spec = jax.tree.map(lambda _: False, trained)
    return eqx.tree_at(
        lambda m: (m.network, m.loss_scales),
        spec,
        (jax.tree.map(eqx.is_array, trained.network), True),
    )


def _batches(n: int, size: int, rng: np.random.Generator | None):
    """Index arrays of equal length ``size`` and masks; the last one padded with index 0."""
    order = np.arange(n) if rng is None else rng.permutation(n)
    for start in range(0, n, size):
        chunk = order[start : start + size]
        mask = np.zeros(size)
        mask[: chunk.size] = 1.0
        yield np.concatenate([chunk, np.zeros(size - chunk.size, dtype=int)]), mask


#: Number of traces (= compilations) of the training kernels in this process.
TRACES: collections.Counter[str] = collections.Counter()

#: Adam with the step size as an input (the decay schedule is evaluated on the host), so one
#: compiled step serves every learning rate and schedule.
_OPTIMIZER = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)


def compile_key(config: HySoMiTrainConfig) -> HySoMiTrainConfig:
    """The config with every setting that does not change the compiled step reset.

    Two fits whose keys are equal (and whose arrays have equal shapes) share the compiled
    :func:`train_step` and :func:`evaluate`: seeds, budgets, step sizes and sample counts
    differ freely across the trials of a grid or the members of an ensemble.
    """
    defaults = HySoMiTrainConfig()
    return dataclasses.replace(
        config,
        epochs=defaults.epochs,
        learning_rate=defaults.learning_rate,
        decay_rate=defaults.decay_rate,
        decay_epochs=defaults.decay_epochs,
        patience=defaults.patience,
        n_train=0,
        seed=0,
    )


@eqx.filter_jit
def train_step(trained, opt_state, traits, targets, mask, running, times, config):
    """One Adam step on a padded batch: ``(trained, opt_state, loss, terms, running,
    n_failed)``; ``config`` is a :func:`compile_key` (static)."""
    TRACES["train_step"] += 1
    trainable, frozen = eqx.partition(trained, _is_trainable(trained))
    terms_of = partial(_terms, times=times, config=config, constraints=_constraints(config))

    def loss_of(trainable):
        return terms_of(eqx.combine(trainable, frozen), traits, targets, mask, running, True)

    (loss, (terms, statistics, running, n_failed)), grads = eqx.filter_value_and_grad(
        loss_of, has_aux=True
    )(trainable)
    grads = jax.tree.map(lambda g: jnp.where(jnp.isfinite(g), g, 0.0), grads)
    updates, opt_state = _OPTIMIZER.update(grads, opt_state)
    trained = eqx.apply_updates(trained, updates)
    trained = eqx.tree_at(lambda m: m.statistics, trained, statistics)
    return trained, opt_state, loss, terms, running, n_failed


@eqx.filter_jit
def evaluate(trained, traits, targets, mask, running, times, config):
    """Loss terms and failed solves of a padded batch in evaluation mode (no update)."""
    TRACES["evaluate"] += 1
    constraints = _constraints(config)
    _, (terms, _, _, n_failed) = _terms(
        trained, traits, targets, mask, running, False, times, config, constraints
    )
    return terms, n_failed


def train(
    traits_train: np.ndarray,
    states_train: np.ndarray,
    traits_val: np.ndarray,
    states_val: np.ndarray,
    times: np.ndarray,
    config: HySoMiTrainConfig,
    progress: bool = True,
) -> tuple[TrainedModel, dict[str, np.ndarray]]:
    """Train one compared model; early stopping restores the best validation epoch.

    Parameters
    ----------
    traits_train, traits_val : ndarray, shape (n, n_traits)
        Traits of the training and validation samples.
    states_train, states_val : ndarray, shape (n, nt, 6)
        Their pools in mg C/g (only CO2 enters the ``hysomi``, ``unconstrained`` and ``ml``
        losses).
    times : ndarray, shape (nt,)
        Output times in hours.
    config : HySoMiTrainConfig
    progress : bool
        Show a progress bar over epochs.

    Returns
    -------
    trained : TrainedModel
    history : dict of ndarray
        Per epoch: ``train_loss``, ``validation_loss``, ``learning_rate``,
        ``failed_solves`` (training samples whose solve failed), ``validation_terms``
        (epoch, term) and ``term_weights`` (epoch, term; 1 / (2 s_k^2) for ``adaptive``).
    """
    dtype = jnp.dtype(config.solver.dtype)
    times_j = jnp.asarray(times, dtype)
    co2 = states_train[..., _CO2]
    trained = eqx.tree_at(
        lambda m: (m.trait_mean, m.trait_std, m.co2_mean, m.co2_scale),
        skeleton(config, traits_train.shape[1], times.size),
        tuple(
            jnp.asarray(a, dtype)
            for a in (
                traits_train.mean(0),
                np.maximum(traits_train.std(0), 1e-12),
                co2.mean(0),
                max(float(co2.std()), 1e-12),
            )
        ),
    )
    steps_per_epoch = -(-traits_train.shape[0] // config.batch_size)
    schedule = optax.exponential_decay(
        config.learning_rate,
        transition_steps=config.decay_epochs * steps_per_epoch,
        decay_rate=config.decay_rate,
        staircase=True,
    )
    static = compile_key(config)
    opt_state = _OPTIMIZER.init(eqx.filter(trained, _is_trainable(trained)))
    data = {
        "train": (jnp.asarray(traits_train, dtype), jnp.asarray(states_train, dtype)),
        "validation": (jnp.asarray(traits_val, dtype), jnp.asarray(states_val, dtype)),
    }
    n_terms = trained.loss_scales.size
    running = jnp.zeros(n_terms, dtype)
    rng = np.random.default_rng(config.seed)
    history: dict[str, list] = {
        k: []
        for k in (
            "train_loss",
            "validation_loss",
            "learning_rate",
            "failed_solves",
            "validation_terms",
            "term_weights",
        )
    }
    weighting = _weighting(config)
    best, best_loss, waited, n_steps = trained, np.inf, 0, 0
    for epoch in tqdm(range(config.epochs), unit="epoch", disable=not progress):
        losses, failed = [], 0
        traits, targets = data["train"]
        for index, mask in _batches(traits.shape[0], config.batch_size, rng):
            opt_state.hyperparams["learning_rate"] = jnp.asarray(schedule(n_steps), dtype)
            trained, opt_state, loss, _, running, n_failed = train_step(
                trained,
                opt_state,
                traits[index],
                targets[index],
                jnp.asarray(mask, dtype),
                running,
                times_j,
                static,
            )
            n_steps += 1
            losses.append(float(loss))
            failed += int(n_failed)
        traits, targets = data["validation"]
        val_terms, counts = np.zeros(n_terms), 0.0
        for index, mask in _batches(traits.shape[0], config.batch_size, None):
            terms, _ = evaluate(
                trained, traits[index], targets[index], jnp.asarray(mask), running, times_j, static
            )
            val_terms += np.asarray(terms) * mask.sum()
            counts += mask.sum()
        val_terms /= counts
        val_loss = float(weighting(jnp.asarray(val_terms), trained.loss_scales, running)[0])
        history["train_loss"].append(np.mean(losses))
        history["validation_loss"].append(val_loss)
        history["learning_rate"].append(float(schedule((epoch + 1) * steps_per_epoch - 1)))
        history["failed_solves"].append(failed)
        history["validation_terms"].append(val_terms)
        history["term_weights"].append(np.asarray(1.0 / (2.0 * trained.loss_scales**2)))
        if np.isfinite(val_loss) and val_loss < best_loss:
            best, best_loss, waited = trained, val_loss, 0
        else:
            waited += 1
            if waited >= config.patience:
                break
    return best, {k: np.asarray(v) for k, v in history.items()}


@eqx.filter_jit
def _predict_batch(trained, traits, mask, times, solver):
    TRACES["predict"] += 1
    return _forward(trained, traits, mask, False, times, solver)[:3]


def predict(
    trained: TrainedModel, traits: np.ndarray, times: np.ndarray, solver: SolverConfig, batch: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parameters (n, 13; NaN for ``ml``), pools (n, nt, 6; only CO2 for ``ml``), codes (n,).

    Runs in evaluation mode (running batch-norm statistics) in padded batches of ``batch``.
    """
    dtype = jnp.dtype(solver.dtype)
    times_j = jnp.asarray(times, dtype)
    traits_j = jnp.asarray(traits, dtype)
    params, states, codes = [], [], []
    for index, mask in _batches(traits.shape[0], batch, None):
        s, p, c = _predict_batch(
            trained, traits_j[index], jnp.asarray(mask, dtype), times_j, solver
        )
        keep = mask > 0
        states.append(np.asarray(s)[keep])
        params.append(np.asarray(p)[keep])
        codes.append(np.zeros(keep.sum(), int) if c is None else np.asarray(c)[keep])
    return np.concatenate(params), np.concatenate(states), np.concatenate(codes)
