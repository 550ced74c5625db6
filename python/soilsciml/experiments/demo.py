"""The README's main job: synthetic data, noise and figures (training joins in a later step)."""

from __future__ import annotations

from pathlib import Path

from soilsciml.config import NoiseConfig
from soilsciml.data.io import save_dataset
from soilsciml.data.synthetic import simulate_soc
from soilsciml.noise import add_noise
from soilsciml.plots.soc import plot_drivers, plot_profiles

__all__ = ["run_demo"]


def run_demo(out: str | Path) -> Path:
    """Simulate the reference truth, add 7 % AR-1 noise, write data and figures to ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = add_noise(simulate_soc(), NoiseConfig(level=0.07, kind="ar1", seed=0))
    save_dataset(ds, out / "data.nc")
    plot_profiles(ds).savefig(out / "profiles.png", dpi=120)
    plot_drivers(ds).savefig(out / "drivers.png", dpi=120)
    print(f"wrote {out}/data.nc, profiles.png, drivers.png")
    return out
