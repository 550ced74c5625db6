"""A cheap, seeded toy trial for the grid-search tests (importable by worker processes).

Its loss has a known minimum over the test grid, at h1 = 32, h2 = 16, gelu, lr = 0.003, plus a
seeded draw below 1e-3 and the tolerance, so results depend on the trial seed and on nothing
about where the trial ran.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from soilsciml.config import ConfigError


@dataclass(frozen=True)
class ToyNetwork:
    h1: int = 32
    h2: int = 16

    def __post_init__(self) -> None:
        if self.h1 < 1 or self.h2 < 1:
            raise ConfigError(f"network sizes must be >= 1; got h1={self.h1}, h2={self.h2}")


@dataclass(frozen=True)
class ToyConfig:
    network: ToyNetwork = field(default_factory=ToyNetwork)
    activation: str = "tanh"
    learning_rate: float = 3e-3
    tolerance: float = 1e-3
    label: str = ""
    sleep: float = 0.0
    fail_h1: int = 0

    def __post_init__(self) -> None:
        if self.activation not in ("tanh", "gelu"):
            raise ConfigError(f"activation must be tanh or gelu; got {self.activation!r}")


def toy_loss(config: ToyConfig, draw: float) -> float:
    """The toy's loss for a seeded uniform ``draw`` in [0, 1)."""
    return (
        (math.log2(config.network.h1) - 5) ** 2
        + (math.log2(config.network.h2) - 4) ** 2
        + (config.learning_rate / 3e-3 - 1) ** 2
        + (0.1 if config.activation == "tanh" else 0.0)
        + 1e-3 * draw
        + config.tolerance
    )


def toy_trial(config: ToyConfig, context) -> dict[str, float]:
    log = context.data.get("log")
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, f"{context.name} {os.getpid()}\n".encode())
        os.close(fd)
    time.sleep(config.sleep)
    marker = context.data.get("crash_marker")
    if config.label == "crash" and marker and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(3)  # a worker dying outright (killed, out of memory), once
    if config.network.h1 == config.fail_h1:
        raise RuntimeError("toy failure")
    rng = np.random.default_rng(context.seed)
    draw = float(rng.random())
    np.save(context.directory / "draws.npy", rng.normal(size=3))
    loss = toy_loss(config, draw)
    return {"loss": loss, "r2": 1.0 - loss / 10.0, "draw": draw}
