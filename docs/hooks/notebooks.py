"""MkDocs hook: render the notebooks of ``examples/`` as pages of the site.

Each ``examples/NAME.ipynb`` (stored without outputs; CI executes them) becomes the page
``examples/NAME.md``: its Markdown cells as they are, its code cells as Python blocks, and a
link to download the notebook itself, which is copied next to the page.
"""

from __future__ import annotations

import json
from pathlib import Path

from mkdocs.structure.files import File, Files

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def notebook_markdown(path: Path) -> str:
    """The notebook at ``path`` as one Markdown page (code cells as fenced Python blocks)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    parts = []
    for index, cell in enumerate(cells):
        text = _source(cell).rstrip()
        if not text:
            continue
        if cell["cell_type"] == "markdown":
            parts.append(text)
        elif cell["cell_type"] == "code":
            parts.append(f"```python\n{text}\n```")
        if index == 0:
            parts.append(
                f'!!! note "Notebook"\n    This page is the notebook `examples/{path.name}` '
                f"([download]({path.name})), stored without outputs and executed in CI on the "
                f"small settings shown. Run it yourself: see [the notebooks](index.md)."
            )
    return "\n\n".join(parts) + "\n"


def on_files(files: Files, config) -> Files:
    for path in sorted(EXAMPLES.glob("*.ipynb")):
        files.append(
            File.generated(config, f"examples/{path.stem}.md", content=notebook_markdown(path))
        )
        files.append(File.generated(config, f"examples/{path.name}", abs_src_path=str(path)))
    return files
