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

Model selection (early stopping and the epoch kept) watches a fixed validation criterion,
the same for every compared model, not the training objective: with ``adaptive`` weighting
the objective contains the learned weights 1/(2 s_k^2) and the regulariser ln(1 + s_k^2),
so its validation value keeps falling as the weights adapt, whatever the predictions do.
The default criterion (``selection = "co2_constraints"``) of an epoch is::

    criterion = MSE_CO2 + sum_k mean_i relu(a_k v1_ik - b_k v2_ik)

over the validation samples after the epoch's updates, in evaluation mode (running
batch-norm statistics): the CO2 mean squared error in (mg C/g)^2 plus the unweighted sum of
the mean soft violations of the configured constraint set (``constraint_sum`` of the test
metrics, at the same temperature). ``ml`` has no PBM trajectory, so its criterion is the CO2
MSE alone. ``co2`` uses the CO2 MSE alone for every model; ``objective`` restores the
model's own weighted training loss. An epoch in which any validation solve fails scores
+inf. Training stops after ``patience`` epochs without a strictly lower criterion and
returns the weights of the epoch with the lowest one (the initial weights if no epoch has a
finite criterion).

Speed: the PBM solves of a batch run in chunks of ``solve_chunk`` samples, ordered by their
last steps (``engines.jax.hysomi_batches``), padding solved as inactive samples.
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

from soilsciml.config import HySoMiTrainConfig
from soilsciml.engines.jax.hysomi_batches import batches, ordered, remember_steps
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
    "selection_criterion",
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


def _forward(trained: TrainedModel, traits, mask, training: bool, times, config):
    """Pools (n, nt, 6), parameters (n, 13), solve codes and steps (n,), updated statistics.

    Padding (``mask`` 0) is solved as inactive samples (constant pools, a few steps)."""
    x = (traits - trained.trait_mean) / trained.trait_std
    out, statistics = trained.network(x, trained.statistics, mask, training)
    n = traits.shape[0]
    if trained.kind == "ml":
        co2 = trained.co2_mean + trained.co2_scale * out
        states = jnp.full((n, times.size, len(model.STATE_NAMES)), jnp.nan, out.dtype)
        states = states.at[..., _CO2].set(co2)
        params = jnp.full((n, len(model.PARAM_NAMES)), jnp.nan, out.dtype)
        return states, params, None, jnp.zeros(n, jnp.int32), statistics
    params = model.to_box(out, jnp).astype(out.dtype)
    initial = jnp.broadcast_to(
        jnp.asarray(model.INITIAL_STATE, out.dtype), (n, len(model.STATE_NAMES))
    )
    states, codes, steps = simulate_states(
        params,
        initial,
        times,
        config.solver,
        controller=config.step_controller,
        chunk=config.solve_chunk,
        active=mask,
    )
    return states, params, codes, steps, statistics


def _terms(trained, traits, targets, mask, running, training, times, config, constraints):
    """Weighted loss and (terms, selection terms, updated batch statistics, running
    magnitudes, failures, steps per sample).

    The selection terms are the CO2 MSE and the mean soft violation of every constraint
    (the CO2 MSE alone for ``ml``) on the same predictions, whatever the model's objective.
    """
    states, params, codes, steps, statistics = _forward(
        trained, traits, mask, training, times, config
    )
    solved = jnp.ones_like(mask, dtype=bool) if codes is None else codes == 0
    valid = mask * solved
    # A failed sample gets the target in place of its trajectory: zero error, zero gradient.
    safe = jnp.where(solved[:, None, None], states, targets)
    if config.model == "ml":
        safe = jnp.where(jnp.isnan(safe), targets, safe)
    objective = OBJECTIVES["ml" if config.model == "ml" else "hysomi"]
    temperature = config.constraints.temperature
    selected = objective(safe, targets, params, times, valid, constraints, temperature)
    terms = OBJECTIVES[config.model](safe, targets, params, times, valid, constraints, temperature)
    loss, running = _weighting(config)(terms, trained.loss_scales, running)
    n_failed = jnp.sum(mask * (~solved))
    return loss, (terms, selected, statistics, running, n_failed, steps)


def _is_trainable(trained: TrainedModel) -> TrainedModel:
    """Filter spec: the network's arrays and the loss scales train; the rest is frozen."""
    spec = jax.tree.map(lambda _: False, trained)
    return eqx.tree_at(
        lambda m: (m.network, m.loss_scales),
        spec,
        (jax.tree.map(eqx.is_array, trained.network), True),
    )


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
        selection=defaults.selection,
        n_train=0,
        seed=0,
    )


@eqx.filter_jit
def train_step(trained, opt_state, traits, targets, mask, running, times, config):
    """One Adam step on a padded batch: ``(trained, opt_state, loss, terms, running,
    n_failed, steps)``; ``config`` is a :func:`compile_key` (static)."""
    TRACES["train_step"] += 1
    trainable, frozen = eqx.partition(trained, _is_trainable(trained))
    terms_of = partial(_terms, times=times, config=config, constraints=_constraints(config))

    def loss_of(trainable):
        return terms_of(eqx.combine(trainable, frozen), traits, targets, mask, running, True)

    (loss, (terms, _, statistics, running, n_failed, steps)), grads = eqx.filter_value_and_grad(
        loss_of, has_aux=True
    )(trainable)
    grads = jax.tree.map(lambda g: jnp.where(jnp.isfinite(g), g, 0.0), grads)
    updates, opt_state = _OPTIMIZER.update(grads, opt_state)
    trained = eqx.apply_updates(trained, updates)
    trained = eqx.tree_at(lambda m: m.statistics, trained, statistics)
    return trained, opt_state, loss, terms, running, n_failed, steps


@eqx.filter_jit
def evaluate(trained, traits, targets, mask, running, times, config):
    """Loss terms, selection terms, failed solves and steps per sample of a padded batch in
    evaluation mode (no update)."""
    TRACES["evaluate"] += 1
    constraints = _constraints(config)
    _, (terms, selected, _, _, n_failed, steps) = _terms(
        trained, traits, targets, mask, running, False, times, config, constraints
    )
    return terms, selected, n_failed, steps


def selection_criterion(
    config: HySoMiTrainConfig, terms, selected, n_failed: int, loss_scales, running
) -> float:
    """The validation criterion of early stopping (see the module docstring).

    Parameters
    ----------
    config : HySoMiTrainConfig
        ``selection`` picks the criterion.
    terms, selected : array
        Validation means of the model's loss terms and of the selection terms (CO2 MSE,
        then one mean soft violation per constraint; the CO2 MSE alone for ``ml``).
    n_failed : int
        Validation samples whose solve failed (any: +inf).
    loss_scales, running : array
        The weighting's state, for ``objective``.
    """
    if n_failed > 0:
        return float("inf")
    if config.selection == "objective":
        return float(_weighting(config)(jnp.asarray(terms), loss_scales, running)[0])
    if config.selection == "co2":
        return float(selected[0])
    return float(np.sum(selected))


def train(
    traits_train: np.ndarray,
    states_train: np.ndarray,
    traits_val: np.ndarray,
    states_val: np.ndarray,
    times: np.ndarray,
    config: HySoMiTrainConfig,
    progress: bool = True,
) -> tuple[TrainedModel, dict[str, np.ndarray]]:
    """Train one compared model; early stopping keeps the epoch of the best validation
    criterion (:func:`selection_criterion`).

    Parameters
    ----------
    traits_train, traits_val : ndarray, shape (n, n_traits)
        Traits of the training and validation samples.
    states_train, states_val : ndarray, shape (n, nt, 6)
        Their pools in mg C/g (only CO2 enters the ``hysomi``, ``unconstrained`` and ``ml``
        losses and the selection criterion).
    times : ndarray, shape (nt,)
        Output times in hours.
    config : HySoMiTrainConfig
    progress : bool
        Show a progress bar over epochs.

    Returns
    -------
    trained : TrainedModel
        The weights after the best epoch.
    history : dict of ndarray
        Per epoch: ``train_loss``, ``validation_loss`` (the training objective on the
        validation split), ``selection`` (the criterion), ``validation_mse_co2``,
        ``validation_constraint_sum`` (NaN for ``ml``), ``validation_failed``,
        ``learning_rate``, ``failed_solves`` (training samples whose solve failed),
        ``solver_steps`` (mean accepted steps per training solve), ``validation_terms``
        (epoch, term) and ``term_weights`` (epoch, term; 1 / (2 s_k^2) for ``adaptive``);
        and ``best_epoch`` (0-d: the epoch kept, counted from 1; 0 for the initial weights).
    """
    dtype = jnp.dtype(config.solver.dtype)
    times_j = jnp.asarray(times, dtype)
    trained = _standardised(
        skeleton(config, traits_train.shape[1], times.size),
        traits_train,
        states_train[..., _CO2],
        dtype,
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
    # Steps each sample took when last solved: the order of the lanes of its next batch.
    last_steps = {"train": np.zeros(len(traits_train)), "validation": np.zeros(len(traits_val))}
    running = jnp.zeros(trained.loss_scales.size, dtype)
    rng = np.random.default_rng(config.seed)
    history: dict[str, list] = collections.defaultdict(list)
    best, best_value, best_epoch, waited, n_steps = trained, np.inf, 0, 0, 0
    for epoch in tqdm(range(config.epochs), unit="epoch", disable=not progress):
        losses, failed, steps = [], 0, []
        traits, targets = data["train"]
        for index, mask in ordered(
            batches(len(traits), config.batch_size, rng), last_steps["train"]
        ):
            opt_state.hyperparams["learning_rate"] = jnp.asarray(schedule(n_steps), dtype)
            trained, opt_state, loss, _, running, n_failed, lane_steps = train_step(
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
            steps.append(remember_steps(last_steps["train"], index, mask, lane_steps))
        terms, selected, val_failed = _validate(
            trained, data["validation"], last_steps, running, times_j, config, static
        )
        value = selection_criterion(
            config, terms, selected, val_failed, trained.loss_scales, running
        )
        history["train_loss"].append(np.mean(losses))
        history["validation_loss"].append(
            float(_weighting(config)(jnp.asarray(terms), trained.loss_scales, running)[0])
        )
        history["selection"].append(value)
        history["validation_mse_co2"].append(float(selected[0]))
        history["validation_constraint_sum"].append(
            float(np.sum(selected[1:])) if selected.size > 1 else np.nan
        )
        history["validation_failed"].append(val_failed)
        history["learning_rate"].append(float(schedule((epoch + 1) * steps_per_epoch - 1)))
        history["failed_solves"].append(failed)
        history["solver_steps"].append(np.concatenate(steps).mean())
        history["validation_terms"].append(terms)
        history["term_weights"].append(np.asarray(1.0 / (2.0 * trained.loss_scales**2)))
        if value < best_value:
            best, best_value, best_epoch, waited = trained, value, epoch + 1, 0
        else:
            waited += 1
            if waited >= config.patience:
                break
    out = {k: np.asarray(v) for k, v in history.items()}
    out["best_epoch"] = np.asarray(best_epoch)
    return best, out


def _standardised(trained: TrainedModel, traits, co2, dtype) -> TrainedModel:
    """``trained`` with the trait standardisation and the CO2 scale of the training data."""
    values = (
        traits.mean(0),
        np.maximum(traits.std(0), 1e-12),
        co2.mean(0),
        max(float(co2.std()), 1e-12),
    )
    return eqx.tree_at(
        lambda m: (m.trait_mean, m.trait_std, m.co2_mean, m.co2_scale),
        trained,
        tuple(jnp.asarray(a, dtype) for a in values),
    )


def _validate(trained, data, last_steps, running, times, config, static):
    """Validation means of the loss terms and the selection terms, and failed solves."""
    traits, targets = data
    terms, selected, counts, failed = 0.0, 0.0, 0.0, 0
    lanes = ordered(batches(len(traits), config.batch_size, None), last_steps["validation"])
    for index, mask in lanes:
        t, sel, n_failed, lane_steps = evaluate(
            trained,
            traits[index],
            targets[index],
            jnp.asarray(mask, traits.dtype),
            running,
            times,
            static,
        )
        terms = terms + np.asarray(t) * mask.sum()
        selected = selected + np.asarray(sel) * mask.sum()
        counts += mask.sum()
        failed += int(n_failed)
        remember_steps(last_steps["validation"], index, mask, lane_steps)
    return terms / counts, selected / counts, failed


@eqx.filter_jit
def _predict_batch(trained, traits, mask, times, config):
    TRACES["predict"] += 1
    return _forward(trained, traits, mask, False, times, config)[:3]


def predict(
    trained: TrainedModel, traits: np.ndarray, times: np.ndarray, config: HySoMiTrainConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parameters (n, 13; NaN for ``ml``), pools (n, nt, 6; only CO2 for ``ml``), codes (n,).

    Runs in evaluation mode (running batch-norm statistics) in padded batches of
    ``config.batch_size``, with the solver settings of ``config``.
    """
    dtype = jnp.dtype(config.solver.dtype)
    times_j = jnp.asarray(times, dtype)
    traits_j = jnp.asarray(traits, dtype)
    static = compile_key(config)
    params, states, codes = [], [], []
    for index, mask in batches(traits.shape[0], config.batch_size, None):
        s, p, c = _predict_batch(
            trained, traits_j[index], jnp.asarray(mask, dtype), times_j, static
        )
        keep = mask > 0
        states.append(np.asarray(s)[keep])
        params.append(np.asarray(p)[keep])
        codes.append(np.zeros(keep.sum(), int) if c is None else np.asarray(c)[keep])
    return np.concatenate(params), np.concatenate(states), np.concatenate(codes)
