"""The synthetic HySoMi dataset, the trait network and the ``soilsciml hysomi`` commands."""

import json

import numpy as np
import pytest

from soilsciml.cli import main
from soilsciml.config import ConfigError, HySoMiConstraintConfig, HySoMiGeneratorConfig, from_dict
from soilsciml.data.io import load_dataset
from soilsciml.hysomi.data import constraint_pass_rates, generate_hysomi
from soilsciml.hysomi.traits import random_trait_network, split_labels, traits_from_params
from soilsciml.models import hysomi as model

SMALL = HySoMiGeneratorConfig(n_samples=50, chunk_size=512, seed=3, trait_noise=6.0)


@pytest.fixture(scope="module")
def small_dataset():
    return generate_hysomi(SMALL, progress=False)


def test_dataset_layout_and_settings(small_dataset):
    ds = small_dataset
    assert ds.sizes == {"sample": 50, "time": 169, "state": 6, "param": 13, "trait": 38}
    assert ds["states"].dims == ("sample", "time", "state")
    assert list(ds["state"].values) == list(model.STATE_NAMES)
    assert list(ds["param"].values) == list(model.PARAM_NAMES)
    np.testing.assert_array_equal(ds["co2"].values, ds["states"].sel(state="CO2").values)
    assert ds["time"].attrs["units"] == "h" and ds["time"].values[-1] == 168.0
    assert np.all((ds["params"].values >= model.LOWER) & (ds["params"].values <= model.UPPER))
    attrs = ds.attrs
    assert attrs["n_samples"] == 50 and attrs["generator_depth"] == 3
    assert attrs["constraints_setting"] == "synthetic" and attrs["solver_rtol"] == 1e-6
    assert attrs["n_draws"] % 512 == 0 and attrs["n_draws"] >= 50
    assert 50 / attrs["n_draws"] <= attrs["acceptance_rate"] < 0.2
    assert from_dict(HySoMiGeneratorConfig, json.loads(attrs["config"])) == SMALL


def test_every_kept_sample_passes_every_constraint(small_dataset):
    rates = constraint_pass_rates(small_dataset)
    assert set(rates) == {*(f"P{i}" for i in range(1, 12)), "C1", "C2", "C3", "all"}
    assert all(rate == 1.0 for rate in rates.values())
    total = small_dataset["states"].sum("state").values
    assert np.abs(total - total[:, :1]).max() < 1e-10 * total.max()


def test_traits_split_and_noise(small_dataset):
    ds = small_dataset
    clean = ds["traits_clean"].values
    assert clean.min() > 5.0 and clean.max() < 200.0
    noise = ds["traits"].values - clean
    assert noise.std() == pytest.approx(6.0, rel=0.1)
    counts = {name: int((ds["split"] == name).sum()) for name in ("train", "validation", "test")}
    assert counts == {"train": 29, "validation": 7, "test": 14}


def test_trait_network_is_seeded_he_initialised_and_configurable():
    layers = random_trait_network(38, 3, 64, np.random.default_rng(0))
    assert [w.shape for w, _ in layers] == [(13, 64), (64, 64), (64, 64), (64, 38)]
    wide = random_trait_network(38, 1, 4000, np.random.default_rng(0))
    assert wide[1][0].var() == pytest.approx(2.0 / 4000, rel=0.02)
    params = model.LOWER + (model.UPPER - model.LOWER) * np.random.default_rng(1).random((20, 13))
    relu = traits_from_params(params, layers)
    again = traits_from_params(params, random_trait_network(38, 3, 64, np.random.default_rng(0)))
    np.testing.assert_array_equal(relu, again)
    tanh = traits_from_params(params, layers, "tanh")
    assert not np.allclose(relu, tanh) and relu.shape == (20, 38)
    assert np.unique(relu.round(6), axis=0).shape[0] == 20


def test_paper_split_sizes():
    labels = split_labels(973, np.random.default_rng(0))
    sizes = [int((labels == name).sum()) for name in ("train", "validation", "test")]
    assert sizes == [554, 139, 280]


def test_constraint_config_is_validated():
    with pytest.raises(ConfigError, match="P7"):
        HySoMiConstraintConfig(setting="real", factor_labels=("P7",), factor_values=(1.0,))
    with pytest.raises(ConfigError, match="same length"):
        HySoMiConstraintConfig(factor_labels=("P6",))
    with pytest.raises(ConfigError, match="constraints.bogus"):
        from_dict(HySoMiGeneratorConfig, {"constraints": {"bogus": 1}})


def test_cli_simulate_generate_check(tmp_path, capsys):
    params = dict(zip(model.PARAM_NAMES, (model.LOWER + model.UPPER) / 2, strict=True))
    (tmp_path / "one.json").write_text(json.dumps(params))
    (tmp_path / "two.json").write_text(json.dumps([params, {**params, "k_S": 1.0}]))
    for name, n in (("one", 1), ("two", 2)):
        out = tmp_path / f"{name}.nc"
        assert main(["hysomi", "simulate", "--params", str(tmp_path / f"{name}.json"),
                     "--out", str(out)]) == 0  # fmt: skip
        ds = load_dataset(out)
        assert ds["states"].shape == (n, 169, 6) and np.all(ds["solve_status"].values == 0)
    data = tmp_path / "data.nc"
    args = ["hysomi", "generate", "--n", "12", "--seed", "1", "--chunk-size", "512", "--p6", "0.8"]
    assert main([*args, "--generator-depth", "2", "--quiet", "--out", str(data)]) == 0
    ds = load_dataset(data)
    assert ds.sizes["sample"] == 12 and ds.attrs["generator_depth"] == 2
    assert json.loads(ds.attrs["config"])["constraints"]["factor_values"] == [0.8]
    capsys.readouterr()
    assert main(["hysomi", "check", str(data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].split() == ["all", "1.0000"] and len(lines) == 16


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sigma": 3.0}, "parameter 'sigma' = 3.0 is outside its box"),
        ({"k_S": "fast"}, "parameter 'k_S' must be a finite number"),
        ({"speed": 1.0}, "unknown parameter 'speed'"),
        ({"beta": None}, "parameter 'beta' must be a finite number"),
    ],
)
def test_cli_simulate_names_the_bad_parameter(tmp_path, capsys, change, message):
    params = dict(zip(model.PARAM_NAMES, (model.LOWER + model.UPPER) / 2, strict=True))
    (tmp_path / "p.json").write_text(json.dumps([params, {**params, **change}]))
    code = main(
        [
            "hysomi",
            "simulate",
            "--params",
            str(tmp_path / "p.json"),
            "--out",
            str(tmp_path / "x.nc"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and "parameter set 1" in err
    assert not (tmp_path / "x.nc").exists()
