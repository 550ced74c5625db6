"""The package's floor plan: each layer imports only the layers below it (import-linter)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_layers_contract_holds():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(lint).exists():
        pytest.fail("lint-imports not found: install the test extra (pip install -e '.[test]')")
    result = subprocess.run(
        [lint, "--config", str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def test_public_names_resolve_from_the_top_and_the_model_packages():
    import soilsciml
    import soilsciml.hysomi
    import soilsciml.soc

    assert soilsciml.fit_soc is soilsciml.soc.fit_soc
    assert soilsciml.calibrate_hysomi is soilsciml.hysomi.calibrate_hysomi
    for package in (soilsciml, soilsciml.soc, soilsciml.hysomi):
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"
