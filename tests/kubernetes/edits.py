"""Editing a test's copy of an estate."""

from __future__ import annotations


def replace_in(path: str, old: str, new: str) -> None:
    """Edit a file of a test's estate: ``old`` (which must be there) becomes ``new``."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert old in text, f"{old!r} is not in {path}"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new))
