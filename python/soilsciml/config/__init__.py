"""Run settings as frozen dataclasses, loaded from and saved to TOML.

Every setting of a run lives in one of these classes (``base``: machinery and the shared
solver; ``soc``: the SOC model and its UDE fit; ``hysomi``: the microbial model). Each setting
declares its domain next to its definition (``setting(default, ge=..., le=..., choices=...)``
in a class declared with ``@settings("section")``; see :mod:`soilsciml.config.domain`), and
one generic validator checks every class against them when it is built or loaded, so an
impossible setting fails before any compute with a ``ConfigError`` naming it. Loading also
rejects unknown keys with the key's full dotted name. :func:`domain_table` renders every
setting's domain as Markdown (``docs/data-conventions.md``).
"""

from soilsciml.config import base, domain, hysomi, soc
from soilsciml.config.base import *  # noqa: F403  (re-exported: the public settings API)
from soilsciml.config.domain import *  # noqa: F403
from soilsciml.config.hysomi import *  # noqa: F403
from soilsciml.config.soc import *  # noqa: F403

__all__ = sorted({*base.__all__, *domain.__all__, *soc.__all__, *hysomi.__all__})

# The settings classes belong to the public ``soilsciml.config`` namespace: pickles, grid
# fingerprints ("module:Class") and repr stay the same wherever a class is defined inside it.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) or callable(_value):
        _value.__module__ = __name__
del _name, _value
