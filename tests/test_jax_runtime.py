"""The JAX engine's process settings: the persistent compilation cache and its switch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from soilsciml.engines.jax.runtime import CACHE_ENV, cache_directory

PYTHON_DIR = Path(__file__).parents[1] / "python"

#: A fresh process that imports the engine, compiles one kernel and reports the settings (the
#: kernel is cached however fast it compiles, so the test does not depend on the machine).
SCRIPT = """
import json, jax, jax.numpy as jnp
from soilsciml.engines.jax import runtime
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.jit(lambda x: jnp.cumsum(jnp.sin(x) ** 2))(jnp.arange(5.0)).block_until_ready()
print(json.dumps({"directory": str(runtime.CACHE_DIRECTORY),
                  "enabled": jax.config.jax_enable_compilation_cache,
                  "x64": jax.config.jax_enable_x64}))
"""


def run_engine(tmp_path: Path, script: str = SCRIPT, **env: str) -> dict:
    # EQX_ON_ERROR too: this process's engine has set it, a fresh one must set it itself
    unset = (CACHE_ENV, "XDG_CACHE_HOME", "EQX_ON_ERROR")
    environ = {k: v for k, v in os.environ.items() if k not in unset}
    environ.update(
        PYTHONPATH=os.pathsep.join([str(PYTHON_DIR), environ.get("PYTHONPATH", "")]),
        HOME=str(tmp_path / "home"),
        **env,
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def entries(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "home/.cache/soilsciml/jax"),
        ({"XDG_CACHE_HOME": "/xdg"}, "/xdg/soilsciml/jax"),
        ({CACHE_ENV: "/elsewhere/cache"}, "/elsewhere/cache"),
        ({CACHE_ENV: "OFF"}, None),
        ({CACHE_ENV: "off", "XDG_CACHE_HOME": "/xdg"}, None),
        ({"JAX_COMPILATION_CACHE_DIR": "/jax/own"}, None),  # JAX's own setting is respected
        ({"JAX_COMPILATION_CACHE_DIR": "/jax/own", CACHE_ENV: "/ours"}, "/ours"),
    ],
)
def test_cache_directory_from_the_environment(environ, expected, monkeypatch):
    if sys.platform in ("darwin", "win32"):
        pytest.skip("the XDG layout is the Linux one")
    monkeypatch.setenv("HOME", "home")
    found = cache_directory(environ)
    assert found == (None if expected is None else Path(expected))


def test_compiled_kernels_land_in_the_cache_and_the_switch_turns_it_off(tmp_path):
    cache = tmp_path / "cache"
    first = run_engine(tmp_path, **{CACHE_ENV: str(cache)})
    assert first == {"directory": str(cache), "enabled": True, "x64": True}
    written = entries(cache)
    assert written, "no compiled kernel was written to the cache"

    # the default lives under XDG_CACHE_HOME; off writes nothing anywhere
    xdg = tmp_path / "xdg"
    default = run_engine(tmp_path, XDG_CACHE_HOME=str(xdg))
    assert default["directory"] == str(xdg / "soilsciml" / "jax")
    assert entries(xdg / "soilsciml" / "jax")
    off = run_engine(tmp_path, XDG_CACHE_HOME=str(tmp_path / "xdg-off"), **{CACHE_ENV: "off"})
    assert off == {"directory": "None", "enabled": False, "x64": True}
    assert not (tmp_path / "xdg-off").exists() and not (tmp_path / "home").exists()

    # a second process reads the entries back instead of writing new ones
    run_engine(tmp_path, **{CACHE_ENV: str(cache)})
    assert sorted(entries(cache)) == sorted(written)


FIT_SCRIPT = """
import json
from soilsciml.config import SOCFitConfig, SOCGridConfig, SOCNetworkConfig, SOCSimulationConfig
from soilsciml.config import SOCTrainConfig
from soilsciml.soc.fit import fit_soc
from soilsciml.soc.simulate import simulate_soc
data = simulate_soc(SOCSimulationConfig(years=5.0, grid=SOCGridConfig(nz=6)))
train = SOCTrainConfig(adam_iters=2, second_iters=2)
config = SOCFitConfig(SOCNetworkConfig(h1=4, h2=2), train=train)
result = fit_soc(data, config, progress=False)
from soilsciml.engines.jax import train
print(json.dumps({"traces": dict(train.TRACES), "loss": result.solver_stats["final_loss"]}))
"""


@pytest.mark.slow
def test_the_training_kernels_are_cached_and_a_new_process_traces_none(tmp_path):
    """No host callback sits in the Adam and BFGS kernels (JAX caches none that has one),
    and their traces are stored: a second process loads them instead of tracing (only the
    tiny Adam update, not a stored kernel, is traced again) and reaches the same loss."""
    cache = tmp_path / "cache"
    first = run_engine(tmp_path, FIT_SCRIPT, **{CACHE_ENV: str(cache)})
    kernels = {p.name.partition("-")[0] for p in entries(cache)}
    expected = {"jit_soc_value_and_grad", "jit__adam_update", "jit_soc_quasi_newton_step"}
    assert expected <= kernels
    stored = {p.name.partition("-")[0] for p in entries(cache / "exported")}
    training = {"soc_value_and_grad", "soc_quasi_newton_init", "soc_quasi_newton_step"}
    assert stored == training | {"soc_solve_truth", "soc_predict"}
    assert first["traces"]["value_and_grad"] == 1 and first["traces"]["quasi_newton_step"] == 1

    second = run_engine(tmp_path, FIT_SCRIPT, **{CACHE_ENV: str(cache)})
    assert second["traces"] == {"adam_update": 1}
    assert second["loss"] == first["loss"]


HYSOMI_SCRIPT = """
from soilsciml.config import HySoMiGeneratorConfig, HySoMiTrainConfig
from soilsciml.hysomi.data import generate_hysomi
from soilsciml.hysomi.fit import fit_hysomi
from soilsciml.soc.simulate import simulate_soc
data = generate_hysomi(HySoMiGeneratorConfig(n_samples=24, seed=0), progress=False)
fit_hysomi(data, HySoMiTrainConfig(epochs=1, width=4, depth=1, batch_size=8), progress=False)
simulate_soc()
import equinox._config
print('{"mode": "%s"}' % equinox._config.EQX_ON_ERROR)
"""


@pytest.mark.slow
def test_kernels_with_save_points_are_cached(tmp_path):
    """diffrax checks every ``SaveAt(ts=...)`` with ``equinox.error_if``; in Equinox's
    default mode that is a host callback, which keeps a kernel out of JAX's cache. The
    engine's mode (``nan``) leaves none: the HySoMi training, validation and prediction
    kernels and the SOC truth (save points every year) land in the cache."""
    cache = tmp_path / "cache"
    report = run_engine(tmp_path, HYSOMI_SCRIPT, **{CACHE_ENV: str(cache)})
    assert report == {"mode": "nan"}
    kernels = {p.name.partition("-")[0] for p in entries(cache)}
    expected = {"jit_train_step", "jit_evaluate", "jit__predict_batch", "jit_soc_solve_truth"}
    assert expected <= kernels
    # a mode the user chose is kept
    environ = {"EQX_ON_ERROR": "raise", CACHE_ENV: str(tmp_path / "raise")}
    assert run_engine(tmp_path, HYSOMI_SCRIPT, **environ) == {"mode": "raise"}
    assert "jit_train_step" not in {p.name.partition("-")[0] for p in entries(tmp_path / "raise")}


def test_a_failing_check_is_a_reported_failed_solve():
    """With the engine's Equinox mode a check that fires gives NaN, reported as a status
    (here save points outside the solve's span), not an exception."""
    import jax.numpy as jnp

    from soilsciml.config import SolverConfig
    from soilsciml.engines.base import SOLVE_MESSAGES
    from soilsciml.engines.jax.solve import solve

    times = jnp.array([0.0, 2.0, 1.0, 3.0])  # not increasing: diffrax's check fires
    ys, code, _ = solve(lambda t, y, args: -y, jnp.ones(2), times, None, SolverConfig())
    assert int(code) != 0 and int(code) in SOLVE_MESSAGES
    assert not bool(jnp.all(jnp.isfinite(ys)))
