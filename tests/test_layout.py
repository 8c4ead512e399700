"""The package's shape: no import cycle inside it, and cheap router imports.

The import graph is read from the source with :mod:`ast`. Every ``import`` statement
counts, at module level and inside functions alike (a function-level import is still a
dependency, only a later one), except those under ``if TYPE_CHECKING:``, which never run.
Importing ``a.b.c`` also imports ``a.b`` first, so a module that imports ``a.b.c``
depends on ``a.b`` too (a package ``__init__`` that imports much therefore makes every
importer of its submodules pay for it); a package importing its own submodule is no
cycle, since the submodule's parents are already being imported when it runs.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "multidb_routers"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts
    }


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree`` outside ``if TYPE_CHECKING:`` blocks."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (parent packages included)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            targets.add(source)
            targets.update(f"{source}.{alias.name}" for alias in node.names)
        # Importing a.b.c runs a/__init__ and a/b/__init__ first, so the importer depends
        # on those too; its own parent packages are already being imported when it runs.
        reached = {parent for target in targets for parent in _parents(target)}
        graph[name] = {
            target
            for target in targets | reached
            if target in modules and target != name and target not in _parents(name)
        }
    return graph


def _parents(name: str) -> set[str]:
    return {name.rsplit(".", depth)[0] for depth in range(1, name.count(".") + 1)}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (its modules in order), or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(module: str) -> list[str] | None:
        path.append(module)
        on_path.add(module)
        for target in sorted(graph[module]):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        on_path.discard(module)
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def test_the_import_graph_reader_sees_a_cycle_through_a_function_level_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .x import X\n"
        "def f():\n    from .y import Y\n"
    )
    assert [node.module for node in _imports(tree)] == ["typing", "y"]


def test_no_module_of_the_package_imports_itself_through_a_cycle() -> None:
    graph = import_graph()
    assert "multidb_routers.replication.router" in graph  # the graph covers the package
    assert find_cycle(graph) is None


HEAVY = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.db.models",  # about 200 modules: a settings.py importing the routers pays them
    "django.db.models.sql.compiler",
    "uuid",  # imports platform: as much again as the routers
    "decimal",
    "psycopg",
    "psycopg2",
    "multidb_routers.admin",
    "multidb_routers.merge",
    "multidb_routers.management",
    "multidb_routers.moving",
    "multidb_routers.sharding.manager",
    "multidb_routers.sharding.admin",
    "multidb_routers.overlay.manager",
    "multidb_routers.replication.middleware",
]


def _modules_loaded_by(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    return set(json.loads(result.stdout))


def test_importing_the_routers_needs_no_settings_and_leaves_the_heavy_modules_out() -> None:
    loaded = _modules_loaded_by(
        "from multidb_routers import "
        "FunctionalRouter, OverlayRouter, PrimaryReplicaRouter, ShardRouter, use_primary"
    )
    assert "multidb_routers.replication.router" in loaded
    assert sorted(loaded & set(HEAVY)) == []


@pytest.mark.parametrize(
    "name",
    ["FunctionalRouter", "OverlayRouter", "PrimaryReplicaRouter", "ShardRouter", "use_primary"],
)
def test_each_public_name_is_importable_on_its_own(name: str) -> None:
    loaded = _modules_loaded_by(f"from multidb_routers import {name}")
    assert "multidb_routers" in loaded


def test_the_package_lists_every_lazy_name_and_an_unknown_one_is_an_attribute_error() -> None:
    import multidb_routers

    for name in multidb_routers.__all__:
        assert getattr(multidb_routers, name) is not None
    assert set(multidb_routers.__all__) <= set(dir(multidb_routers))
    with pytest.raises(AttributeError, match="no_such_name"):
        multidb_routers.no_such_name  # noqa: B018


@pytest.mark.parametrize(
    "path",
    [
        "multidb_routers.FunctionalRouter",
        "multidb_routers.PrimaryReplicaRouter",
        "multidb_routers.ShardRouter",
        "multidb_routers.OverlayRouter",
        "multidb_routers.use_primary",
        "multidb_routers.RouterOptionError",
        "multidb_routers.middleware.PinningMiddleware",
        "multidb_routers.presets.MasterSlave",
        "multidb_routers.presets.MultipleMasterSlave",
        "multidb_routers.presets.ReplicaRouter",
        "multidb_routers.presets.PinningReplicaRouter",
        "multidb_routers.admin.MultiDBModelAdmin",
        "multidb_routers.sharding.ShardedManager",
        "multidb_routers.sharding.across_shards",
        "multidb_routers.sharding.find_shard_router",
        "multidb_routers.sharding.require_shard_router",
        "multidb_routers.overlay.OverlayManager",
        "multidb_routers.overlay.find_overlay_router",
        "multidb_routers.overlay.require_overlay_router",
    ],
)
def test_the_public_import_paths_resolve(path: str) -> None:
    from django.utils.module_loading import import_string

    assert import_string(path).__name__ == path.rpartition(".")[2]


def test_every_context_variable_is_named_multidb_routers_dot_something() -> None:
    names = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "ContextVar"
            ):
                first = node.args[0]
                assert isinstance(first, ast.Constant), (
                    f"{path}: a ContextVar without a literal name"
                )
                names.append(first.value)
    assert len(names) >= 5
    assert [name for name in names if not name.startswith("multidb_routers.")] == []
