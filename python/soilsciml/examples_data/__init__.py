"""Example data shipped with the package (each file's source and licence in ``README.md``).

- ``certovo_aerobic.csv``: a real glucose-pulse incubation of Certovo soil, aerobic, 58 days,
  four replicate jars per time (Capek et al., GitHub repository
  ``petacapek/IncubationExperiment``, CC-BY-4.0).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["EXAMPLE_FILES", "example_data_path"]

#: The example files, by name.
EXAMPLE_FILES = ("certovo_aerobic.csv", "README.md")


def example_data_path(name: str) -> Path:
    """Path of the example data file ``name`` inside the installed package.

    Parameters
    ----------
    name : str
        One of :data:`EXAMPLE_FILES`.

    Returns
    -------
    pathlib.Path
        A readable file on disk.

    Raises
    ------
    ValueError
        If ``name`` is not an example file; the message lists them.
    """
    if name not in EXAMPLE_FILES:
        raise ValueError(f"no example data file {name!r}; available: {', '.join(EXAMPLE_FILES)}")
    return Path(str(resources.files(__name__).joinpath(name)))
