"""Time one whole HySoMi training run: CPU and wall time of ``fit_hysomi``, and its metrics.

The run: the ``hysomi`` model (default ``HySoMiTrainConfig``) on the 554 training samples of
the synthetic dataset (973 samples, seed 0, cached in ``--inputs``), ``--epochs`` epochs
(default 300) with early stopping off (patience = epochs, so every epoch runs), validation
every epoch, then the test prediction; compilation included, in a fresh process. CPU time
is ``time.process_time`` (all threads of the process): unlike wall time it does not grow
when other jobs share the cores, though contention still slows each core.

Contenders, each in its own process:

- ``check``: value and gradient of the ``hysomi`` loss on the first training batch at the
  initial weights with the default settings, with the earlier ones (``integral`` step
  control, one vmapped solve per batch) and with a tight reference (rtol 1e-9, atol 1e-12);
  fails unless the default loss agrees with the reference to 1e-6 and its gradient to 1e-3;
- ``jax``: the run with the defaults;
- ``baseline``: the run with the earlier settings (``--set step_controller=integral
  --set solve_chunk=0``), usually for fewer ``--epochs`` (it is the slow one).

    python benchmarks/hysomi_run.py --contender check --inputs benchmarks/out
    python benchmarks/hysomi_run.py --contender jax --epochs 300 --inputs benchmarks/out
    python benchmarks/hysomi_run.py --contender baseline --epochs 30 --inputs benchmarks/out
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import numpy as np
from bench_util import write_json
from hysomi_epoch import DATASET, training_split

#: Earlier settings of the training solves (before PI control and ordered chunks).
BASELINE = {"step_controller": "integral", "solve_chunk": 0}


def _config(epochs: int, settings: dict):
    from soilsciml.config import HySoMiTrainConfig

    return dataclasses.replace(HySoMiTrainConfig(), epochs=epochs, patience=epochs, **settings)


def run(inputs: Path, epochs: int, settings: dict, label: str) -> dict:
    """Train once; CPU and wall time, epochs, mean solver steps and the test metrics."""
    import jax

    from soilsciml.data.io import load_dataset
    from soilsciml.hysomi.fit import METRIC_KEYS, fit_hysomi

    training_split(inputs)  # generates the dataset on first use
    ds = load_dataset(inputs / DATASET)
    config = _config(epochs, settings)
    load_before = os.getloadavg()
    cpu, wall = time.process_time(), time.perf_counter()
    result = fit_hysomi(ds, config, progress=False)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    metrics = result.metrics()
    steps = result.predictions["solver_steps"].values
    return {
        "contender": label,
        "settings": {k: getattr(config, k) for k in ("step_controller", "solve_chunk")},
        "epochs": epochs,
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_per_epoch_s": cpu / epochs,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "mean_solver_steps_first_last_epoch": [float(steps[0]), float(steps[-1])],
        "best_epoch": metrics["best_epoch"],
        **{k: metrics[k] for k in METRIC_KEYS},
        "versions": f"jax {jax.__version__}",
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def check(inputs: Path) -> dict:
    """Loss and gradient of the first batch: defaults, baseline and a tight reference."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    from hysomi_epoch import _jax_model

    from soilsciml.config import SolverConfig
    from soilsciml.engines.jax import hysomi_train as ht
    from soilsciml.models.hysomi import hourly_times

    traits, states = training_split(inputs)
    config, trained, constraints = _jax_model(traits)
    batch = slice(0, config.batch_size)
    times = jnp.asarray(hourly_times())
    arrays = (jnp.asarray(traits[batch]), jnp.asarray(states[batch]))
    mask, running = jnp.ones(config.batch_size), jnp.zeros(trained.loss_scales.size)
    tight = SolverConfig(rtol=1e-9, atol=1e-12, max_steps=100_000)
    variants = {
        "default": config,
        "baseline": dataclasses.replace(config, **BASELINE),
        "reference": dataclasses.replace(config, solver=tight),
    }
    out = {}
    for name, variant in variants.items():

        def loss(network, variant=variant):
            model = eqx.tree_at(lambda m: m.network, trained, network)
            return ht._terms(model, *arrays, mask, running, True, times, variant, constraints)[0]

        value, grad = eqx.filter_jit(eqx.filter_value_and_grad(loss))(trained.network)
        flat = np.concatenate([np.ravel(g) for g in jax.tree.leaves(grad)])
        out[name] = (float(value), flat)
    ref_loss, ref_grad = out["reference"]
    result = {"contender": "check"}
    for name in ("default", "baseline"):
        value, grad = out[name]
        result[f"loss_{name}"] = value
        result[f"loss_relative_difference_{name}"] = abs(value - ref_loss) / abs(ref_loss)
        result[f"gradient_relative_difference_{name}"] = float(
            np.linalg.norm(grad - ref_grad) / np.linalg.norm(ref_grad)
        )
    result["loss_reference"] = ref_loss
    if result["loss_relative_difference_default"] > 1e-6:
        raise SystemExit(f"default loss off the reference: {result}")
    if result["gradient_relative_difference_default"] > 1e-3:
        raise SystemExit(f"default gradient off the reference: {result}")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender", choices=("check", "jax", "baseline"), default="jax")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--inputs", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    if args.contender == "check":
        result = check(args.inputs)
    elif args.contender == "jax":
        result = run(args.inputs, args.epochs, {}, "jax (defaults)")
    else:
        result = run(args.inputs, args.epochs, BASELINE, "jax (integral control, one solve)")
    write_json({"benchmark": "hysomi_run", **result}, args.json)


if __name__ == "__main__":
    main()
