"""A reduced Case 4 fit in PyTorch + torchdiffeq, run as a whole job (the peer of a short
``soilsciml soc fit``): start the interpreter, import torch, read the problem's arrays and
initial weights (written by ``benchmarks/soc_step.py --contender check``), take ``--steps``
Adam steps of :class:`~peers.torch_soc.TorchSOCUDE` (dopri5, rtol = atol = 1e-5, the same
learning rate and Adam defaults as the JAX engine) and print, as JSON, the loss of every step
and the lowest (what the JAX engine's Adam stage keeps: the best weights it evaluated; the
point after its last update is never evaluated).

    python benchmarks/peers/torch_soc_fit.py INPUTS.npz --steps 30 [--lr 0.003] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

START = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from peers.torch_soc import TorchSOCUDE  # noqa: E402

RTOL = ATOL = 1e-5


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", type=Path, help="soc_inputs.npz of soc_step.py's check")
    parser.add_argument("--steps", type=int, default=30, help="Adam steps (>= 1)")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (> 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (>= 1)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.lr <= 0 or args.threads < 1:
        parser.error("--steps and --threads need to be >= 1 and --lr > 0")
    torch.set_num_threads(args.threads)
    with np.load(args.inputs) as stored:
        arrays = dict(stored)
    weights = {k[2:]: v for k, v in arrays.items() if k.startswith("w:")}
    data = {k[2:]: v for k, v in arrays.items() if k.startswith("d:")}
    peer = TorchSOCUDE(weights, data, boundary=str(arrays["boundary"]))
    optimiser = torch.optim.Adam(peer.parameters(), lr=args.lr)
    losses = []
    for _ in range(args.steps):
        optimiser.zero_grad(set_to_none=True)
        loss = peer.loss(RTOL, ATOL)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    print(
        json.dumps(
            {
                "steps": args.steps,
                "first_loss": losses[0],
                "last_step_loss": losses[-1],
                "best_loss": min(losses),
                "losses": losses,
                "in_process_s": time.perf_counter() - START,
            }
        )
    )


if __name__ == "__main__":
    main()
