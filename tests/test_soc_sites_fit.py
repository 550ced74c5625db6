"""Multi-site SOC UDE: batched loss and gradient, a quick fit with held-out sites, the
chunked (in-process and Dask) gradient, and distillation of a trained model."""

import dataclasses
import json

import numpy as np
import pytest
from gradcheck import directional_derivatives

from soilsciml.config import (
    ConfigError,
    SOCFitConfig,
    SOCGridConfig,
    SOCLossConfig,
    SOCNetworkConfig,
    SOCSimulationConfig,
    SOCTrainConfig,
    SolverConfig,
)
from soilsciml.data.schema import DatasetError
from soilsciml.engines import get_engine
from soilsciml.metrics import regression_metrics
from soilsciml.soc.fit import fit_soc, load_soc_model, problem_from_dataset
from soilsciml.soc.simulate import simulate_soc_sites

SIM = SOCSimulationConfig(years=10.0, grid=SOCGridConfig(nz=10))

#: One static setting for every test here, so the compiled kernels are shared.
CONFIG = SOCFitConfig(
    network=SOCNetworkConfig(h1=6, h2=4, activation="tanh"),
    loss=SOCLossConfig(target="trajectory", lambda_coll=0.1, lambda_wd=1e-4),
    solver=SolverConfig(rtol=1e-11, atol=1e-13),
    train=SOCTrainConfig(adam_iters=40, lr=1e-2, second_stage="none", patience=40),
)


@pytest.fixture(scope="module")
def sites():
    return simulate_soc_sites(3, SIM, seed=2)


@pytest.fixture(scope="module")
def problem(sites):
    from soilsciml.models.soc_ude import input_scaling

    problem = problem_from_dataset(sites, CONFIG)
    shift, scale = input_scaling(problem, CONFIG.network)
    return dataclasses.replace(problem, input_shift=shift, input_scale=scale)


@pytest.fixture(scope="module")
def weights():
    from soilsciml.engines.jax.ude import init_weights

    return init_weights(6, 4, seed=5)


@pytest.fixture(scope="module")
def fitted(sites):
    return fit_soc(sites, CONFIG, progress=False)


def _one_site(problem, site):
    return dataclasses.replace(
        problem,
        initial=problem.initial[site],
        drivers=problem.drivers[:, site],
        targets=problem.targets[site],
    )


def test_batched_loss_is_the_mean_of_the_site_losses(problem, weights):
    """Misfit, collocation and weight decay of all sites in one solve = mean of single-site
    losses (an identity up to the solver tolerance: the sites share one adaptive step
    sequence; rtol 1e-11 here)."""
    engine = get_engine("jax")
    batched = engine.soc_loss(problem, weights, CONFIG)
    single = [engine.soc_loss(_one_site(problem, s), weights, CONFIG) for s in range(3)]
    assert batched == pytest.approx(np.mean(single), rel=1e-6)
    assert np.std(single) > 0.05 * np.mean(single)  # the sites differ: a real average


def test_batched_prediction_matches_single_site_solves(problem, weights):
    engine = get_engine("jax")
    together = engine.predict_soc(problem, weights, CONFIG).soc
    assert together.shape == (3, problem.times.size, problem.depth.size)
    for site in range(3):
        alone = engine.predict_soc(_one_site(problem, site), weights, CONFIG).soc
        np.testing.assert_allclose(together[site], alone, rtol=1e-8, atol=1e-10)


def test_batched_gradient_matches_central_differences(problem, weights):
    for analytic, numeric in directional_derivatives(problem, weights, CONFIG, 1e-4, 2):
        assert analytic == pytest.approx(numeric, rel=1e-4)


def test_quick_fit_learns_and_forecasts_held_out_sites(fitted, problem, weights):
    losses = fitted.history["adam"]
    assert fitted.status == "ok" and fitted.failed_solves == 0
    assert losses.min() < 0.3 * losses[0]
    metrics = fitted.metrics()
    assert metrics["r2_clean"] > 0.95
    assert fitted.predictions["soc_fit_pred"].dims == ("site", "fit_time", "depth")
    # New sites (other seed), 15 years: 5 years beyond the training horizon.
    held_out = simulate_soc_sites(2, dataclasses.replace(SIM, years=15.0), seed=11)
    predicted = fitted.predict(held_out)
    assert predicted["soc_pred"].dims == ("site", "time", "depth")
    trained = regression_metrics(predicted["soc_pred"].values, held_out["soc"].values)["r2"]
    untrained = dataclasses.replace(fitted.model, weights=weights)
    before = untrained.predict(held_out)["soc_pred"].values
    assert trained > 0.9
    assert trained > regression_metrics(before, held_out["soc"].values)["r2"]


def test_chunked_gradient_in_process_and_on_dask_workers(sites, problem, weights):
    """Dask (LocalCluster, 2 workers) gives the in-process chunked loss and gradient to
    round-off; both equal the batched ones to the solver tolerance."""
    distributed = pytest.importorskip("distributed")
    import jax.numpy as jnp

    from soilsciml.engines.jax import train as jax_train
    from soilsciml.engines.jax import ude as jax_ude
    from soilsciml.engines.jax.sites import SiteChunks

    data = jax_ude.prepare_data(problem, CONFIG, "float64")
    static = jax_ude.static_settings(CONFIG, problem.boundary)
    loss, grads = jax_train.value_and_grad(
        {k: jnp.asarray(v) for k, v in weights.items()}, data, static
    )
    local_loss, local_grads = SiteChunks(problem, CONFIG, 2).value_and_grad(weights)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        chunks = SiteChunks(problem, CONFIG, 2, client)
        dask_loss, dask_grads = chunks.value_and_grad(weights)
        assert dask_loss == pytest.approx(local_loss, rel=1e-13)
        for name in weights:
            np.testing.assert_allclose(dask_grads[name], local_grads[name], rtol=1e-11, atol=1e-15)
        assert chunks.counts["evaluations"] == 1 and chunks.counts["failed_solves"] == 0
        # The whole fit on the cluster follows the in-process chunked fit.
        short = dataclasses.replace(CONFIG, train=dataclasses.replace(CONFIG.train, adam_iters=3))
        on_dask = fit_soc(
            sites, short, progress=False, executor="dask", scheduler=cluster.scheduler_address
        )
        in_process = fit_soc(sites, short, progress=False, site_chunks=2)
        np.testing.assert_allclose(on_dask.history["adam"], in_process.history["adam"], rtol=1e-12)
    assert local_loss == pytest.approx(float(loss), rel=1e-6)
    for name in weights:
        np.testing.assert_allclose(local_grads[name], np.asarray(grads[name]), rtol=1e-5, atol=1e-9)


def test_chunked_fit_follows_the_batched_fit(sites, fitted):
    config = dataclasses.replace(CONFIG, train=dataclasses.replace(CONFIG.train, adam_iters=5))
    chunked = fit_soc(sites, config, progress=False, site_chunks=2)
    np.testing.assert_allclose(chunked.history["adam"], fitted.history["adam"][:5], rtol=1e-6)
    assert chunked.solver_stats["site_chunks"] == 2


def test_bad_site_settings_fail_before_any_compute(sites, fitted, monkeypatch):
    with pytest.raises(ConfigError, match="Adam stage only"):
        fit_soc(sites, SOCFitConfig(), executor="dask")
    with pytest.raises(ConfigError, match=r"site_chunks must be in \[1, 3\]"):
        fit_soc(sites, CONFIG, site_chunks=4)
    with pytest.raises(ConfigError, match="executor must be one of"):
        fit_soc(sites, CONFIG, executor="slurm")
    with pytest.raises(ConfigError, match="'site' dimension"):
        fit_soc(sites.isel(site=0), CONFIG, site_chunks=1)
    nan_start = sites.copy(deep=True)
    nan_start["soc"][1, 0, 3] = np.nan
    with pytest.raises(DatasetError, match=r"NaN at the first time of site\(s\) \[1\]"):
        fit_soc(nan_start, CONFIG)

    from soilsciml.engines.julia_engine import JuliaEngine

    assert not JuliaEngine.supports_sites
    monkeypatch.setattr("soilsciml.soc.fit.get_engine", lambda name: JuliaEngine())
    with pytest.raises(DatasetError, match="does not support multi-site datasets"):
        fit_soc(sites, CONFIG, engine="julia")
    with pytest.raises(DatasetError, match="does not support multi-site datasets"):
        dataclasses.replace(fitted.model, engine="julia").predict(sites)


def test_cli_distil_writes_its_report(sites, fitted, tmp_path):
    from soilsciml.cli import main
    from soilsciml.data.io import save_dataset

    fitted.save(tmp_path / "run", figures=False)
    data = save_dataset(sites, tmp_path / "sites.nc")
    out = tmp_path / "distil"
    code = main(["soc", "distil", str(tmp_path / "run"), "--data", str(data), "--out", str(out)])
    assert code == 0
    report = (out / "report.md").read_text()
    assert "reference: `P* = 0.08 exp(-3 z)" in report and "Depth decay rate of P" in report
    terms = json.loads((out / "terms.json").read_text())
    assert terms["n_samples"] == sites["soc"].size
    assert (out / "distillation.png").is_file()
    net = tmp_path / "net"
    argv = ["soc", "distil", str(tmp_path / "run"), "--data", str(data), "--net", "--out", str(net)]
    assert main(argv) == 0
    assert "net source P - R" in (net / "report.md").read_text()
    assert json.loads((net / "terms.json").read_text())["production"]["expression"].startswith(
        "P - R ≈"
    )
    # The wrapped networks are the UDE's source and sink: the same inputs, order and scaling.
    import jax.numpy as jnp

    from soilsciml.engines.jax import ude as jax_ude
    from soilsciml.interpret import sample_points
    from soilsciml.soc.distil import network_callables

    model = load_soc_model(tmp_path / "run")
    state = model.predict(sites)["soc_pred"].values
    samples = sample_points(sites, state)
    production, respiration = (fn(samples) for fn in network_callables(model))
    problem = model.problem(sites)
    data = jax_ude.model_data(problem, model.config, "float64")
    static = jax_ude.static_settings(model.config, problem.boundary)
    weights = {k: jnp.asarray(v) for k, v in model.weights.items()}
    time_index = 4
    p, r = jax_ude.rates(
        jnp.asarray(sites["time"].values[time_index]), state[:, time_index], weights, data, static
    )
    shape = state.shape
    np.testing.assert_allclose(production.reshape(shape)[:, time_index], p, rtol=1e-12)
    np.testing.assert_allclose(respiration.reshape(shape)[:, time_index], r, rtol=1e-12)
