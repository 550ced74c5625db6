"""Peer reference implementations in PyTorch + torchdiffeq, for comparison only.

They are written the way the papers' own code is (eager PyTorch modules, ``torchdiffeq.odeint``
with dopri5 and direct backpropagation through the solver) and take the same inputs as the JAX
engine, so each benchmark first checks that a peer computes the same loss for the same weights.
"""
