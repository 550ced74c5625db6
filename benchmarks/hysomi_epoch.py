"""Time one HySoMi training epoch: the JAX engine against the torchdiffeq peer.

One epoch = Adam steps over the 554 training samples of the synthetic dataset (973 samples,
seed 0) in shuffled batches of 256, each step solving the PBM on the 169 hourly points for
every sample of the batch and differentiating the ``hysomi`` loss (CO2 MSE + soft constraint
violations, adaptive weighting); the validation pass is left out on both sides. Contenders,
each in its own process:

- ``check``: generates (or reuses) the dataset in ``--inputs``, computes the loss of the first
  batch with both engines for the same network weights, fails unless they agree, and writes
  the weights for ``torch``;
- ``jax``: the training step of ``engines/jax/hysomi_train.py`` (the default
  ``HySoMiTrainConfig``: vmapped Tsit5 solves, each sample with its own steps, rtol 1e-5,
  atol 1e-7, PI step control, chunks of 32 samples ordered by their steps in the previous
  epoch, as ``train`` runs them), compiled once, timed with ``block_until_ready``;
- ``torch``: ``benchmarks/peers/torch_hysomi.py`` (the batch as one ODE, dopri5, same
  tolerances, backpropagation through the solver).

    python benchmarks/hysomi_epoch.py --contender check --inputs benchmarks/out
    python benchmarks/hysomi_epoch.py --contender jax|torch --inputs benchmarks/out [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from bench_util import time_repeats, torch_result, use_torch_threads, write_json

#: Largest relative loss difference between the engines (solver tolerance).
AGREEMENT = 1e-4
DATASET = "hysomi_973.nc"
WEIGHTS = "hysomi_weights.npz"


def training_split(inputs: Path) -> tuple[np.ndarray, np.ndarray]:
    """Traits (554, 38) and pools (554, 169, 6) of the training split (dataset cached)."""
    import xarray as xr

    path = inputs / DATASET
    if not path.exists():
        from soilsciml.config import HySoMiGeneratorConfig
        from soilsciml.hysomi.data import generate_hysomi

        inputs.mkdir(parents=True, exist_ok=True)
        generate_hysomi(HySoMiGeneratorConfig(n_samples=973, seed=0), progress=False).to_netcdf(
            path
        )
    ds = xr.load_dataset(path)
    train = ds.isel(sample=np.flatnonzero(ds["split"].values == "train"))
    return train["traits"].values, train["states"].transpose("sample", "time", "state").values


def _jax_model(traits: np.ndarray):
    """Config, the seeded untrained model (standardised on the traits) and the constraints."""
    import equinox as eqx
    import jax.numpy as jnp

    from soilsciml.config import HySoMiTrainConfig
    from soilsciml.engines.jax import hysomi_train as ht
    from soilsciml.models.hysomi import hourly_times

    config = HySoMiTrainConfig()
    trained = eqx.tree_at(
        lambda m: (m.trait_mean, m.trait_std),
        ht.skeleton(config, traits.shape[1], hourly_times().size),
        (jnp.asarray(traits.mean(0)), jnp.asarray(np.maximum(traits.std(0), 1e-12))),
    )
    return config, trained, ht._constraints(config)


def run_jax(inputs: Path, repeats: int) -> dict:
    """Compile time and epoch time statistics of the JAX engine (the package's own
    ``train_step``, as ``jax_hysomi_train.train`` runs it)."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from soilsciml.engines.jax import hysomi_batches as hb
    from soilsciml.engines.jax import hysomi_train as ht
    from soilsciml.models.hysomi import hourly_times

    traits, states = training_split(inputs)
    config, trained, _ = _jax_model(traits)
    opt_state = ht._OPTIMIZER.init(eqx.filter(trained, ht._is_trainable(trained)))
    opt_state.hyperparams["learning_rate"] = jnp.asarray(config.learning_rate)
    static, times = ht.compile_key(config), jnp.asarray(hourly_times())
    traits_j, states_j = jnp.asarray(traits), jnp.asarray(states)
    running = jnp.zeros(trained.loss_scales.size)
    rng = np.random.default_rng(0)
    state = {"trained": trained, "opt": opt_state}
    last_steps = np.zeros(traits.shape[0])

    def epoch():
        lanes = hb.ordered(hb.batches(traits.shape[0], config.batch_size, rng), last_steps)
        for index, mask in lanes:
            state["trained"], state["opt"], loss, *_, steps = ht.train_step(
                state["trained"],
                state["opt"],
                traits_j[index],
                states_j[index],
                jnp.asarray(mask),
                running,
                times,
                static,
            )
            float(loss)
            hb.remember_steps(last_steps, index, mask, steps)

    start = time.perf_counter()
    epoch()
    first = time.perf_counter() - start
    timing = time_repeats(epoch, repeats)
    return {
        "contender": f"jax (tsit5, {config.step_controller} control, chunks of "
        f"{config.solve_chunk} ordered by steps)",
        "compile_s": first - timing["median_s"],
        **timing,
        "versions": f"jax {jax.__version__}",
    }


def _peer(inputs: Path):
    from peers.torch_hysomi import TorchHySoMi

    from soilsciml.config import HySoMiTrainConfig
    from soilsciml.models import constraints as cons
    from soilsciml.models.hysomi import hourly_times

    config = HySoMiTrainConfig()
    with np.load(inputs / WEIGHTS) as stored:
        arrays = dict(stored)
    constraints = cons.constraint_set(config.constraints.setting, config.constraints.factors())
    network = {k: v for k, v in arrays.items() if k.startswith(("hidden", "norm", "head"))}
    return TorchHySoMi(
        network,
        arrays["loss_scales"],
        arrays["trait_mean"],
        arrays["trait_std"],
        constraints,
        config.constraints.temperature,
        hourly_times(),
        config.solver.rtol,
        config.solver.atol,
        config.learning_rate,
    ), config


def run_torch(inputs: Path, repeats: int, threads: int) -> dict:
    """Epoch time statistics of the torchdiffeq peer (no compilation)."""
    use_torch_threads(threads)
    traits, states = training_split(inputs)
    peer, config = _peer(inputs)
    rng = np.random.default_rng(0)
    timing = time_repeats(lambda: peer.epoch(traits, states, config.batch_size, rng), repeats)
    return torch_result("torchdiffeq (dopri5, batch as one ODE)", timing, threads)


def check(inputs: Path, threads: int) -> dict:
    """Loss of the first batch of 256 with both engines; raises unless they agree."""
    use_torch_threads(threads)
    import equinox as eqx
    import jax.numpy as jnp
    import torch
    from peers.torch_hysomi import network_arrays

    from soilsciml.engines.jax import hysomi_train as ht
    from soilsciml.models.hysomi import hourly_times

    traits, states = training_split(inputs)
    config, trained, constraints = _jax_model(traits)
    np.savez(
        inputs / WEIGHTS,
        loss_scales=np.asarray(trained.loss_scales),
        trait_mean=np.asarray(trained.trait_mean),
        trait_std=np.asarray(trained.trait_std),
        **network_arrays(trained.network),
    )
    batch = slice(0, config.batch_size)
    loss_fn = eqx.filter_jit(
        lambda m, x, y, mask, run: ht._terms(
            m, x, y, mask, run, True, jnp.asarray(hourly_times()), config, constraints
        )[0]
    )
    loss = float(
        loss_fn(
            trained,
            jnp.asarray(traits[batch]),
            jnp.asarray(states[batch]),
            jnp.ones(config.batch_size),
            jnp.zeros(trained.loss_scales.size),
        )
    )
    peer, _ = _peer(inputs)
    peer_loss = float(peer.loss(torch.tensor(traits[batch]), torch.tensor(states[batch])).detach())
    difference = abs(peer_loss - loss) / abs(loss)
    if difference > AGREEMENT:
        raise SystemExit(f"the torch peer disagrees: loss {peer_loss} vs {loss}")
    return {
        "contender": "check",
        "loss_jax": loss,
        "loss_torch": peer_loss,
        "loss_relative_difference": difference,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender", choices=("check", "jax", "torch"), default="jax")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--inputs", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    if args.contender == "jax":
        result = run_jax(args.inputs, args.repeats)
    elif args.contender == "torch":
        result = run_torch(args.inputs, args.repeats, args.threads)
    else:
        result = check(args.inputs, args.threads)
    write_json({"benchmark": "hysomi_epoch", **result}, args.json)


if __name__ == "__main__":
    main()
