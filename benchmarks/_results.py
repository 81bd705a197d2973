"""Where every benchmark's table goes: printed, and written to ``benchmarks/results/<name>.md``."""

from __future__ import annotations

from pathlib import Path


def publish(lines: list[str], out: Path) -> str:
    """Print the Markdown table ``lines`` and write it to ``out``; return the text."""
    text = "\n".join(lines) + "\n"
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text
