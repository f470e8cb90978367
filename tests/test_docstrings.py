"""Every module's top docstring says what it does and what it must not do (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import distillscope

PACKAGE = Path(distillscope.__file__).resolve().parent
#: Words that state a module's boundary; a docstring holds at least one (line breaks count as spaces).
BOUNDARY = ("must not", "never")


def _missing() -> list[str]:
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__main__.py":
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if not any(word in " ".join(doc.split()) for word in BOUNDARY):
            missing.append(str(path.relative_to(PACKAGE.parent)))
    return missing


def test_every_module_docstring_says_what_it_must_not_do() -> None:
    assert not _missing(), "top docstring without 'must not' or 'never': " + ", ".join(_missing())
