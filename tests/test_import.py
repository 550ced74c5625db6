"""Import behaviour: ``import soilsciml`` must stay light (no JAX, no juliacall)."""

import subprocess
import sys


def test_import_loads_neither_jax_nor_juliacall():
    code = (
        "import sys, soilsciml; "
        "heavy = [m for m in ('jax', 'juliacall', 'diffrax', 'equinox') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_lazy_attribute_resolves_and_unknown_raises():
    import soilsciml

    assert callable(soilsciml.simulate_soc)
    try:
        soilsciml.no_such_name  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("unknown attribute did not raise")
