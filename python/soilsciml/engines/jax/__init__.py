"""The JAX engine's kernels (diffrax, equinox, optax, optimistix).

``engine`` holds :class:`~soilsciml.engines.jax.engine.JaxEngine`; ``solve`` the shared
solver choices; ``soc`` / ``ude`` / ``train`` / ``sites`` the SOC truth, UDE and its
optimiser stages; ``pbm`` / ``hysomi_net`` / ``hysomi_loss`` / ``hysomi_train`` the HySoMi
model and training; ``calibrate`` the incubation calibration; ``runtime`` the process
settings (float64 support and the persistent compilation cache), applied here on import.
"""

from soilsciml.engines.jax import runtime as runtime  # configures JAX before any kernel
