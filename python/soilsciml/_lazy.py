"""Lazy attribute access for package namespaces: a public name imports its module on first use.

This keeps ``import soilsciml`` (and ``import soilsciml.soc`` / ``soilsciml.hysomi``) free of
JAX and juliacall until a function that needs them is called.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_namespace(
    package: str, names: dict[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose public names live in submodules.

    Parameters
    ----------
    package : str
        The package's dotted name (for the error message).
    names : dict of str to str
        Public name -> dotted module that defines it.
    namespace : dict
        The package's ``globals()``; a resolved name is cached there.
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*names, *(k for k in namespace if not k.startswith("_"))})

    return __getattr__, __dir__
