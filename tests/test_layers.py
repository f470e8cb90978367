"""The layer rules of docs/architecture.md, checked on every import in the package.

Every ``import distillscope...`` / ``from distillscope... import`` is read from the
source (function-level imports included: a lazy import is still a dependency), and:

- **downward only**: a module imports from its own layer or a lower one;
- **faces, not internals**: a component reaches another component through its
  package face (``distillscope.harvest``), never its modules (``distillscope.harvest.run``),
  except in the few assemblers named below;
- **no upward seams**: ``server`` never imports ``guard``, ``watermark`` or ``serving``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import distillscope

PACKAGE = Path(distillscope.__file__).resolve().parent

#: Layer of a module: the longest matching dotted prefix wins (see docs/architecture.md).
LAYERS: dict[str, int] = {
    # 0: shared types and tools
    "distillscope.records": 0,
    "distillscope.exchanges": 0,
    "distillscope.errors": 0,
    "distillscope.config": 0,
    "distillscope.textsig": 0,
    "distillscope.lazyface": 0,
    "distillscope.clitools": 0,
    "distillscope.testing": 0,
    "distillscope.__version__": 0,
    # 1: libraries: the model runtime and the bare OpenAI-compatible server
    "distillscope.models": 1,
    "distillscope.server": 1,
    # 2: components on the model's side, and the log readers
    "distillscope.guard": 2,
    "distillscope.watermark": 2,
    "distillscope.defend": 2,
    "distillscope.detect": 2,
    "distillscope.simulate": 2,
    "distillscope.share": 2,
    "distillscope.probe": 2,
    "distillscope.report": 2,
    "distillscope.logs": 2,
    # 3: the serving stack, assembled once
    "distillscope.serving": 3,
    # 4: components that stand up or call a server: distill, evaluate, price a defence
    "distillscope.harvest": 4,
    "distillscope.train": 4,
    "distillscope.evaluate": 4,
    "distillscope.defend.frontier": 4,
    "distillscope.defend.cli": 4,
    # 5: the exercise and the entry points
    "distillscope.demo": 5,
    "distillscope.cli": 5,
    "distillscope.__main__": 5,
    "distillscope": 5,
}
#: Packages whose modules are their face (libraries, not components).
LIBRARIES = {"models", "server", "testing"}
#: Modules that assemble several components and may reach into their modules (besides the root face).
ASSEMBLERS = ("distillscope.cli", "distillscope.serving", "distillscope.demo", "distillscope.logs")


def layer(module: str) -> int:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return LAYERS[prefix]
    raise AssertionError(f"{module} has no layer: add it to LAYERS and docs/architecture.md")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("distillscope", *path.relative_to(PACKAGE).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def imports_of(module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every distillscope import in ``module``'s source."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # `from distillscope.x import y` may name a module y: count the deeper one when it is one;
            # from the root package only `__version__` is taken, and it counts as its own name
            for alias in node.names:
                deeper = f"{target}.{alias.name}"
                out.append((node.lineno, deeper if deeper in MODULES or target == "distillscope" else target))
    return [(line, name) for line, name in out if name == "distillscope" or name.startswith("distillscope.")]


def _component(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def _is_assembler(module: str) -> bool:
    return module == "distillscope" or any(module == a or module.startswith(a + ".") for a in ASSEMBLERS)


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer(module)


def test_imports_go_downward() -> None:
    upward = [
        f"{module}:{line} imports {target} (layer {layer(target)} > {layer(module)})"
        for module in MODULES
        for line, target in imports_of(module)
        if layer(target) > layer(module)
    ]
    assert not upward, "\n".join(upward)


def test_components_use_each_others_faces() -> None:
    reached = [
        f"{module}:{line} imports {target}: use distillscope.{_component(target)}'s face"
        for module in MODULES
        if not _is_assembler(module)
        for line, target in imports_of(module)
        if target.count(".") >= 2
        and _component(target) not in (_component(module), *LIBRARIES)
        and MODULES[".".join(target.split(".")[:2])].name == "__init__.py"
    ]
    assert not reached, "\n".join(reached)


def test_the_server_knows_no_guard_watermark_or_serving() -> None:
    for module in MODULES:
        if _component(module) != "server":
            continue
        for line, target in imports_of(module):
            assert _component(target) not in ("guard", "watermark", "serving", "defend"), f"{module}:{line}"


def test_the_checker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The rules are only as good as the import reader: it must see lazy imports inside functions."""
    assert ("distillscope.serving") in {t for _, t in imports_of("distillscope.harvest.teacher")}
    assert layer("distillscope.harvest.teacher") > layer("distillscope.serving") > layer("distillscope.guard")
    assert layer("distillscope.defend.frontier") > layer("distillscope.defend.countermeasures")
