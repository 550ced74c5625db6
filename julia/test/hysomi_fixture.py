"""Write ``hysomi_fixture.toml``: the data and JAX reference numbers of the Julia HySoMi tests.

The Julia test suite (``runtests.jl``) trains the HySoMi model on a small trait dataset and must
lower the training loss and the test constraint sum below thresholds taken from the JAX engine
on the same data. This script makes that dataset with the Python generator, writes it with the
constraint table, the parameter box and the initial pools (so no threshold is retyped in
Julia), and records what the JAX engine reaches with the same training settings for several
seeds (the Julia engine's random numbers differ, so one seed would be too narrow a reference).

Run from the repository root (it needs JAX, not Julia)::

    python julia/test/hysomi_fixture.py
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tomli_w

from soilsciml.config import HySoMiGeneratorConfig, HySoMiTrainConfig, to_dict
from soilsciml.engines.julia_engine import constraint_rows
from soilsciml.hysomi.data import generate_hysomi
from soilsciml.hysomi.fit import fit_hysomi
from soilsciml.models import hysomi as model

FIXTURE = Path(__file__).with_name("hysomi_fixture.toml")
#: Samples of the fixture dataset (split about 57 / 14 / 29 % into train / validation / test).
N_SAMPLES = 40
#: The training settings of the Julia test run (the quick experiment's network and budget).
TRAIN = HySoMiTrainConfig(epochs=6, patience=6, width=16, depth=2, batch_size=16)
#: Seeds of the JAX reference runs.
SEEDS = (0, 1, 2, 3, 4)


def _floats(values) -> list:
    return np.asarray(values, dtype=float).tolist()


def jax_reference(ds) -> dict[str, list[float]]:
    """First and last epoch training loss and test constraint sum of JAX runs, per seed."""
    out: dict[str, list[float]] = {
        "first_train_loss": [],
        "final_train_loss": [],
        "constraint_sum": [],
    }
    for seed in SEEDS:
        result = fit_hysomi(ds, dataclasses.replace(TRAIN, seed=seed), progress=False)
        loss = result.predictions["train_loss"].values
        out["first_train_loss"].append(float(loss[0]))
        out["final_train_loss"].append(float(loss[-1]))
        out["constraint_sum"].append(float(result.metrics()["constraint_sum"]))
    return out


def main() -> None:
    ds = generate_hysomi(
        HySoMiGeneratorConfig(n_samples=N_SAMPLES, chunk_size=1024), progress=False
    )
    fixture = {
        "train": to_dict(TRAIN),
        "reference": {"seeds": list(SEEDS), **jax_reference(ds)},
        "data": {
            "times": _floats(ds["time"].values),
            "initial": _floats(model.INITIAL_STATE),
            "lower": _floats(model.LOWER),
            "upper": _floats(model.UPPER),
            "split": [str(s) for s in ds["split"].values],
            "params": _floats(ds["params"].transpose("sample", "param").values),
            "traits": _floats(ds["traits"].transpose("sample", "trait").values),
            "constraints": constraint_rows(TRAIN),
        },
    }
    header = (
        "# Written by julia/test/hysomi_fixture.py (the HySoMi data of runtests.jl); do not edit.\n"
    )
    FIXTURE.write_text(header + tomli_w.dumps(fixture))
    print(f"wrote {FIXTURE}: {fixture['reference']}")


if __name__ == "__main__":
    main()
