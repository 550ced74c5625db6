"""HySoMi training: loss weightings, masked batch norm, splits, reproducibility, the compared
models, failed solves, run directories and the ``train`` / ``experiment`` commands."""

import dataclasses
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from soilsciml.cli import main
from soilsciml.config import ConfigError, HySoMiGeneratorConfig, HySoMiTrainConfig, SolverConfig
from soilsciml.data.io import save_dataset
from soilsciml.engines.jax.hysomi_loss import adaptive, balanced, normalised
from soilsciml.engines.jax.hysomi_net import TraitNetwork, init_statistics
from soilsciml.hysomi.experiments import QUICK as QUICK_EXPERIMENT
from soilsciml.hysomi.experiments import markdown_table
from soilsciml.hysomi.fit import (
    METRIC_KEYS,
    HySoMiFitResult,
    fit_hysomi,
    predict_split,
    split_arrays,
)
from soilsciml.search import GridError

QUICK = QUICK_EXPERIMENT.train


@pytest.fixture(scope="module")
def dataset(hysomi_quick_dataset):
    return hysomi_quick_dataset


@pytest.fixture(scope="module")
def constrained(dataset):
    return fit_hysomi(dataset, QUICK, progress=False)


def test_adaptive_weighting_value_and_gradient():
    terms, scales = jnp.array([0.5, 2.0]), jnp.array([1.0, 2.0])
    loss, running = adaptive(terms, scales, jnp.zeros(2))
    expected = 0.5 / 2 + np.log(2.0) + 2.0 / 8 + np.log(5.0)
    assert float(loss) == pytest.approx(expected, rel=1e-12)
    # d/ds [L / (2 s^2) + ln(1 + s^2)] = -L / s^3 + 2 s / (1 + s^2)
    grad = jax.grad(lambda s: adaptive(terms, s, running)[0])(scales)
    np.testing.assert_allclose(grad, [-0.5 + 1.0, -2.0 / 8 + 4.0 / 5], rtol=1e-12)
    # at the optimum L (1 + s^2) = 2 s^4 the gradient vanishes
    s_opt = jnp.sqrt((terms + jnp.sqrt(terms**2 + 8 * terms)) / 4)
    np.testing.assert_allclose(
        jax.grad(lambda s: adaptive(terms, s, running)[0])(s_opt), 0, atol=1e-12
    )
    assert float(balanced(terms, scales, running)[0]) == pytest.approx(2.5)


def test_normalised_weighting_divides_by_running_magnitude():
    terms = jnp.array([0.5, 2.0, 0.0])
    first, running = normalised(terms, jnp.ones(3), jnp.zeros(3))
    assert float(first) == pytest.approx(2.0)  # each nonzero term over itself; zero stays zero
    np.testing.assert_allclose(running, terms)
    second, running = normalised(2 * terms, jnp.ones(3), running)
    np.testing.assert_allclose(running, 0.9 * terms + 0.1 * 2 * terms)
    assert float(second) == pytest.approx(2 * 2 / 1.1)


def test_batch_norm_ignores_padding():
    net = TraitNetwork(5, 3, 8, 2, jax.random.PRNGKey(0), jnp.float64)
    stats = init_statistics(net)
    x = jax.random.normal(jax.random.PRNGKey(1), (7, 5))
    padded = jnp.concatenate([x, 1e3 * jnp.ones((3, 5))])
    mask = jnp.concatenate([jnp.ones(7), jnp.zeros(3)])
    out, new = net(x, stats, jnp.ones(7), training=True)
    out_padded, new_padded = net(padded, stats, mask, training=True)
    np.testing.assert_allclose(out_padded[:7], out, rtol=1e-12)
    np.testing.assert_allclose(new_padded.means[1], new.means[1], rtol=1e-12)
    # batch statistics normalise: first hidden layer's pre-activation mean moves by 0.1 * mean
    h = x @ net.hidden[0].weight.T + net.hidden[0].bias
    np.testing.assert_allclose(new.means[0], 0.1 * h.mean(0), rtol=1e-12)


def test_splits_and_standardisation_from_training_samples_only(dataset):
    config = dataclasses.replace(QUICK, model="ml", n_train=20, epochs=1)
    result = fit_hysomi(dataset, config, progress=False)
    traits, _, _ = split_arrays(dataset, "train")
    np.testing.assert_allclose(result.trained.trait_mean, traits[:20].mean(0), rtol=1e-12)
    np.testing.assert_allclose(result.trained.trait_std, traits[:20].std(0), rtol=1e-12)
    assert not np.allclose(result.trained.trait_mean, dataset["traits"].values.mean(0))
    test = dataset["sample"].values[dataset["split"].values == "test"]
    np.testing.assert_array_equal(result.predictions["sample"].values, test)
    assert result.predictions.attrs["n_train"] == 20
    with pytest.raises(ValueError, match="n_train"):
        fit_hysomi(dataset, dataclasses.replace(config, n_train=10_000), progress=False)


def test_same_seed_same_history(dataset, constrained):
    again = fit_hysomi(dataset, QUICK, progress=False)
    for name in ("train_loss", "validation_loss", "term_weights"):
        np.testing.assert_array_equal(again.predictions[name], constrained.predictions[name])
    other = fit_hysomi(dataset, dataclasses.replace(QUICK, seed=1, epochs=2), progress=False)
    assert other.predictions["train_loss"][0] != constrained.predictions["train_loss"][0]


def test_constraints_lower_the_constraint_sum(dataset, constrained):
    unconstrained = fit_hysomi(
        dataset, dataclasses.replace(QUICK, model="unconstrained"), progress=False
    )
    ours, theirs = constrained.metrics(), unconstrained.metrics()
    assert ours["constraint_sum"] < theirs["constraint_sum"]
    assert ours["n_failed"] == theirs["n_failed"] == 0
    history = constrained.predictions
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history.sizes["term"] == 15 and list(history["term"].values[:2]) == ["mse_co2", "P1"]


def test_failed_solves_are_masked_and_counted(dataset):
    starved = dataclasses.replace(QUICK, epochs=2, solver=SolverConfig(max_steps=8))
    result = fit_hysomi(dataset, starved, progress=False)
    n_train = int((dataset["split"] == "train").sum())
    np.testing.assert_array_equal(result.predictions["failed_solves"], [n_train, n_train])
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(result.trained))
    metrics = result.metrics()
    assert metrics["n_failed"] == metrics["n_test"]


def test_train_command_writes_run_and_ml_has_no_hidden_metrics(dataset, tmp_path, capsys):
    data = save_dataset(dataset, tmp_path / "data.nc")
    out = tmp_path / "run"
    argv = ["hysomi", "train", str(data), "--model", "ml", "--out", str(out), "--epochs", "3"]
    assert main([*argv, "--width", "16", "--depth", "2", "--batch-size", "16", "--quiet"]) == 0
    assert "wrote" in capsys.readouterr().out
    for name in ("config.toml", "metrics.json", "results.nc", "trajectories.png"):
        assert (out / name).is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(METRIC_KEYS) <= set(metrics)
    assert metrics["l1_params"] is None and metrics["mse_hidden"] is None
    assert metrics["constraint_sum"] is None and metrics["mse_co2"] > 0
    loaded = HySoMiFitResult.load(out)
    again = predict_split(loaded, dataset)
    np.testing.assert_allclose(
        again["states_pred"].sel(state="CO2"),
        loaded.predictions["states_pred"].sel(state="CO2"),
        rtol=1e-10,
    )


def test_bad_settings_fail_before_compute(tmp_path):
    with pytest.raises(ConfigError, match="model"):
        HySoMiTrainConfig(model="gp")
    with pytest.raises(ConfigError, match="loss_weighting"):
        HySoMiTrainConfig(loss_weighting="manual")
    assert main(["hysomi", "train", str(tmp_path / "none.nc"), "--out", str(tmp_path)]) == 2


def test_markdown_table_means_and_spreads():
    records = [
        {"model": "hysomi", "mse_co2": 1.0, "l1_params": 0.2},
        {"model": "hysomi", "mse_co2": 3.0, "l1_params": 0.4},
        {"model": "ml", "mse_co2": 2.0, "l1_params": None},
    ]
    table = markdown_table(records, ("model",), ("mse_co2", "l1_params"))
    lines = table.splitlines()
    assert lines[2] == "| hysomi | 2 ± 1.4 | 0.3 ± 0.14 | 2 |"
    assert lines[3] == "| ml | 2 | n/a | 1 |"


def test_experiment_runs_as_a_resumable_grid_and_scores_other_data(dataset, tmp_path, monkeypatch):
    from soilsciml.config import HySoMiTrialConfig
    from soilsciml.hysomi import experiments

    config = dataclasses.replace(QUICK, model="ml", epochs=2)
    recipe = experiments.Recipe(
        {"own": HySoMiGeneratorConfig(), "other": HySoMiGeneratorConfig()},
        HySoMiTrialConfig(dataset="own", score_on=("other",), train=config),
        {"train.seed": [0, 1]},
        ("model", "test_data"),
    )
    monkeypatch.setitem(experiments.EXPERIMENTS, "tiny", lambda scale: recipe)
    for name in ("own", "other"):  # cached datasets are used, not regenerated
        save_dataset(dataset, tmp_path / "data" / f"{name}.nc")
    table, records = experiments.run_experiment("tiny", tmp_path, progress=False)
    assert [(r["seed"], r["test_data"]) for r in records] == [
        (0, "own"),
        (0, "other"),
        (1, "own"),
        (1, "other"),
    ]
    assert records[0]["mse_co2"] == pytest.approx(records[1]["mse_co2"], rel=1e-10)
    assert records[0]["mse_co2"] != records[2]["mse_co2"]  # the seed is a grid axis
    assert records[0]["l1_params"] is None  # ml: no parameters (NaN in the grid, None here)
    assert "| ml | own |" in table and "| ml | other |" in (tmp_path / "tiny.md").read_text()
    outcome = next((tmp_path / "grid" / "trials").glob("*/outcome.json"))
    assert (outcome.parent / "metrics.json").is_file()  # the trial folder is the run folder
    stamp = outcome.stat().st_mtime_ns
    again, _ = experiments.run_experiment("tiny", tmp_path, progress=False)
    assert again == table and outcome.stat().st_mtime_ns == stamp

    # report only: a stopped experiment's files from the trials it finished, none run
    shutil.rmtree(outcome.parent)
    partial, rows = experiments.run_experiment("tiny", tmp_path, progress=False, report_only=True)
    assert "| ml | own |" in partial
    assert len(rows) == 2 and not outcome.parent.exists()
    assert "1 of 2 trials not finished" in (tmp_path / "tiny.md").read_text()
    with pytest.raises(GridError, match="holds no grid run"):
        experiments.run_experiment("tiny", tmp_path / "elsewhere", report_only=True)


def test_experiment_seeds_replace_the_recipes_and_trajectory_figures_are_written(
    dataset, tmp_path, monkeypatch
):
    from soilsciml.config import HySoMiTrialConfig
    from soilsciml.hysomi import experiments

    config = dataclasses.replace(QUICK, model="ml", epochs=2)

    def recipe(scale):
        return experiments.Recipe(
            {"own": HySoMiGeneratorConfig()},
            HySoMiTrialConfig(dataset="own", train=config),
            {"train.seed": list(scale.seeds)},
            ("model",),
            figures=experiments._trajectory_figures(),
        )

    monkeypatch.setitem(experiments.EXPERIMENTS, "tiny", recipe)
    save_dataset(dataset, tmp_path / "data" / "own.nc")
    for bad in ([], [-1], [0, 0]):
        with pytest.raises(ValueError, match="seeds"):
            experiments.run_experiment("tiny", tmp_path, progress=False, seeds=bad)
    assert not (tmp_path / "grid").exists()  # refused before any trial
    _, records = experiments.run_experiment("tiny", tmp_path, progress=False, seeds=[3])
    assert [r["seed"] for r in records] == [3]
    for figure in ("trajectories", "error_over_time"):
        assert (tmp_path / f"tiny_{figure}.png").stat().st_size > 10_000


def test_complexity_grows_the_estimator_with_the_generator_in_sub_grids(
    dataset, tmp_path, monkeypatch
):
    from soilsciml.config import HySoMiTrialConfig
    from soilsciml.hysomi import experiments

    recipe = experiments.EXPERIMENTS["complexity"](experiments.QUICK)
    paths = {name: tmp_path / f"{name}.nc" for name in recipe.datasets}
    trials = experiments.experiment_grid(recipe, paths).trials
    # Fig. 3A: every generator depth (1, 3, 9) at the quick estimator depth 2, three models;
    # Fig. 3B: the generators deeper than 2 again with an estimator as deep as they are
    depths = [(t.config.dataset, t.config.train.depth) for t in trials]
    assert depths[:9] == [(f"depth{d}", 2) for d in (1, 3, 9) for _ in range(3)]
    assert depths[9:] == [("depth3", 3)] * 3 + [("depth9", 9)] * 3
    assert len({t.name for t in trials}) == 15

    # the rows carry the estimator depth; each figure draws its own series
    config = dataclasses.replace(QUICK, model="ml", epochs=2)
    tiny = experiments.Recipe(
        {"own": HySoMiGeneratorConfig()},
        HySoMiTrialConfig(dataset="own", train=config),
        [{"train.seed": [0]}, {"train.seed": [0], "train.depth": [3]}],
        ("estimator_depth", "model"),
    )
    monkeypatch.setitem(experiments.EXPERIMENTS, "tiny", lambda scale: tiny)
    save_dataset(dataset, tmp_path / "data" / "own.nc")
    table, records = experiments.run_experiment("tiny", tmp_path, progress=False)
    assert [r["estimator_depth"] for r in records] == [2, 3]
    assert "| 2 | ml |" in table and "| 3 | ml |" in table
    fake = [
        {"generator_depth": g, "estimator_depth": e, "model": "hysomi", **metrics}
        for (g, e), metrics in zip(
            [(1, 2), (3, 2), (9, 2), (3, 3), (9, 9)],
            [{"mse_co2": v, "mse_hidden": v, "constraint_sum": 0.0} for v in (1, 2, 3, 4, 5)],
            strict=True,
        )
    ]
    for key, expected in (("sweep", [1, 2, 3]), ("sweep_deeper_estimator", [1, 4, 5])):
        fig = recipe.figures[key](fake, tmp_path)
        line = fig.axes[0].get_lines()[0]
        assert list(line.get_xdata()) == [1, 3, 9] and list(line.get_ydata()) == expected


def test_paired_comparison_by_seed():
    from scipy import stats

    from soilsciml.hysomi import experiments
    from soilsciml.hysomi.experiments import paired_comparison

    ours, theirs = [1.0, 2.0, 3.0, 4.0], [0.5, 1.4, 2.6, 3.5]
    records = [{"model": "hysomi", "seed": s, "l1_params": v} for s, v in enumerate(ours)]
    records += [{"model": "unconstrained", "seed": s, "l1_params": v} for s, v in enumerate(theirs)]
    records.append({"model": "unconstrained", "seed": 9, "l1_params": 0.0})  # unpaired: left out
    line = paired_comparison(records, metrics=("l1_params",)).splitlines()[2]
    difference = np.subtract(ours, theirs)
    t = difference.mean() / (difference.std(ddof=1) / 2.0)
    p = 2 * stats.t.sf(t, df=3)
    assert line.startswith("| l1_params | 2.5 ± 1.3 | 2 ± 1.3 | +0.5 (+25.0%) | 4 |")
    assert f"| {p:.3g} |" in line
    # pairs of a setting's values (the ablation's loss weightings), same numbers
    named = {"hysomi": "adaptive", "unconstrained": "balanced"}
    weighted = [{**r, "loss_weighting": named[r["model"]], "model": "hysomi"} for r in records]
    table = paired_comparison(weighted, "adaptive", "balanced", ("l1_params",), "loss_weighting")
    assert table.splitlines()[2] == line
    ablation = experiments.EXPERIMENTS["ablation"](experiments.QUICK)
    assert ablation.paired == (
        "loss_weighting",
        (("adaptive", "balanced"), ("adaptive", "normalised")),
    )


def test_selection_keeps_the_best_epoch_when_validation_worsens(dataset):
    from soilsciml.engines.jax.hysomi_train import train

    traits, states, _ = split_arrays(dataset, "train")
    times = dataset["time"].values
    # Validation: the training traits paired with other samples' CO2, so that fitting the
    # training split makes the validation criterion worse after the first epochs.
    mismatched = states[np.roll(np.arange(len(states)), 1)]
    config = dataclasses.replace(QUICK, model="ml", epochs=12, patience=12, learning_rate=0.02)
    trained, history = train(traits, states, traits, mismatched, times, config, progress=False)
    criterion = history["selection"]
    best = int(history["best_epoch"])
    assert criterion.size == 12 and 1 <= best < 12
    assert criterion[best - 1] == criterion.min() < criterion[-1]
    assert history["train_loss"][-1] < history["train_loss"][best - 1]
    np.testing.assert_array_equal(criterion, history["validation_mse_co2"])  # ml: CO2 alone
    # the weights returned are those after the best epoch: training that long gives them
    again, _ = train(
        traits,
        states,
        traits,
        mismatched,
        times,
        dataclasses.replace(config, epochs=best),
        progress=False,
    )
    for kept, rerun in zip(jax.tree.leaves(trained), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(kept, rerun)
    # early stopping: `patience` epochs without a lower criterion end training
    _, stopped = train(
        traits,
        states,
        traits,
        mismatched,
        times,
        dataclasses.replace(config, patience=2),
        progress=False,
    )
    np.testing.assert_array_equal(stopped["selection"], criterion[: best + 2])


def test_selection_criterion_is_validation_co2_mse_plus_constraint_sum(dataset, constrained):
    from soilsciml.hysomi.fit import hysomi_metrics

    history = constrained.predictions
    best = history.attrs["best_epoch"]
    assert history.attrs["selection"] == "co2_constraints" and 1 <= best <= history.sizes["epoch"]
    kept = history["selection"].values[best - 1]
    assert kept == np.min(history["selection"].values)
    # the same criterion, recomputed from the kept model's validation predictions with the
    # numpy metrics of the test split
    validation = hysomi_metrics(predict_split(constrained, dataset, "validation"), QUICK)
    assert kept == pytest.approx(validation["mse_co2"] + validation["constraint_sum"], rel=1e-8)
    terms = history["validation_terms"].values[best - 1]
    assert history["validation_mse_co2"].values[best - 1] == pytest.approx(terms[0], rel=1e-12)
