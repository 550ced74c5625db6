"""Julia start-up for the optional Julia engine. The only module that imports juliacall.

Importing this module is cheap: juliacall is imported lazily, on first use.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

__all__ = ["probe"]


def probe() -> str | None:
    """``None`` when the Julia engine can start here, else why not (without starting Julia)."""
    if importlib.util.find_spec("juliacall") is None:
        return "the Python package juliacall is not installed"
    exe = os.environ.get("PYTHON_JULIACALL_EXE") or shutil.which("julia")
    if not exe:
        return "no Julia executable found (julia is not on PATH and PYTHON_JULIACALL_EXE is unset)"
    return None
