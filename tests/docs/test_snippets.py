"""Every code snippet of the docs is executed, so the docs cannot drift from the code.

Python blocks run as modes.py says; shell blocks' ``manage.py`` commands must name an
existing command and parse with its options.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from django.core.management import get_commands, load_command_class

import multidb_routers
from tests.docs.modes import MODES
from tests.docs.runner import source
from tests.docs.snippets import ROOT, Snippet, all_snippets, keyed

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.once  # one environment per run, not every Django/Python pair

SNIPPETS = all_snippets()
PYTHON = keyed([snippet for snippet in SNIPPETS if snippet.language == "python"])
SHELL = [snippet for snippet in SNIPPETS if snippet.language in ("sh", "shell", "console")]
EXAMPLE_DIR = ROOT / "example_project"


def test_every_python_snippet_has_a_mode_and_every_mode_a_snippet() -> None:
    assert sorted(set(PYTHON) - set(MODES)) == [], "add these to tests/docs/modes.py"
    assert sorted(set(MODES) - set(PYTHON)) == [], "these snippets are gone from the docs"


@pytest.mark.parametrize("key", sorted(PYTHON))
def test_every_python_snippet_compiles(key: str) -> None:
    snippet = PYTHON[key]
    compile(source(snippet), str(snippet), "exec")


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "EXAMPLE_VAR_DIR": str(tmp_path),
    }


def run_checked(snippet: Snippet, args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{snippet}:\n{result.stdout}{result.stderr}"


def run_settings(snippet: Snippet, kind: str, tmp_path: Path) -> None:
    module = tmp_path / "snippet_settings.py"
    module.write_text(
        "from tests.docs.settings import *  # noqa: F403\n"
        "from tests.docs.runner import settings_module\n"
        f"settings_module({kind!r}, {snippet.page!r}, {snippet.line})\n"
    )
    env = {**subprocess_env(tmp_path), "DJANGO_SETTINGS_MODULE": "snippet_settings"}
    run_checked(snippet, ["-m", "django", "check", "--fail-level", "ERROR"], env)


def run_example(snippet: Snippet, pattern: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE_DIR))
    monkeypatch.setenv("EXAMPLE_VAR_DIR", "/nonexistent-example-var")
    import importlib

    base = importlib.import_module("example_project.settings.base")
    real = importlib.import_module(f"example_project.settings.{pattern}")
    namespace = {key: value for key, value in vars(base).items() if not key.startswith("__")}
    namespace.update({name: getattr(multidb_routers, name) for name in multidb_routers.__all__})
    exec(compile(source(snippet), str(snippet), "exec"), namespace)
    for name in ("DATABASES", "MIDDLEWARE"):
        assert namespace[name] == getattr(real, name), f"{name} differs from {pattern}.py"
    assert repr(namespace["DATABASE_ROUTERS"]) == repr(real.DATABASE_ROUTERS)


def query_context(key: str) -> dict[str, Any]:
    """What a ``query`` snippet finds defined, as the page's text around it says."""
    from django.utils import timezone

    if key.startswith("docs/transactions.rst"):
        from tests.testapps.replica_app.models import Review

        return {"Review": Review}
    if key.startswith("docs/api.rst"):
        from tests.testapps.replica_app.models import Review

        return {"Review": Review, "pk": Review.objects.create(title="t").pk}
    if key.startswith("docs/routing.rst"):
        from tests.testapps.replica_app.models import Review

        return {"Review": Review}
    if key.startswith("docs/sharding.rst"):
        from tests.testapps.shard_app.models import Review

        return {"Review": Review, "now": timezone.now()}
    return {}


def run_query(snippet: Snippet, key: str) -> None:
    namespace = query_context(key)
    exec(compile(source(snippet), str(snippet), "exec"), namespace)


def run_mode(mode: str, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the snippet of ``key`` as ``mode`` says (see modes.py)."""
    snippet = PYTHON[key]
    kind, _, argument = mode.partition(":")
    argument = argument.strip()
    if kind in ("settings", "router"):
        run_settings(snippet, kind, tmp_path)
    elif kind == "example":
        run_example(snippet, argument, monkeypatch)
    elif kind in ("admin", "models"):
        env = {**subprocess_env(tmp_path), "DJANGO_SETTINGS_MODULE": "tests.docs.settings"}
        args = ["-m", "tests.docs.runner", kind, snippet.page, str(snippet.line), argument]
        run_checked(snippet, args, env)
    elif kind == "module":
        namespace = {name: getattr(multidb_routers, name) for name in multidb_routers.__all__}
        exec(compile(source(snippet), str(snippet), "exec"), namespace)
    elif kind == "query":
        run_query(snippet, key)
    else:
        pytest.fail(f"{key}: unknown mode {mode!r} in tests/docs/modes.py")


def check_snippet(key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mode = MODES.get(key, "")
    kind, _, reason = mode.partition(":")
    if kind == "skip":
        assert reason.strip(), f"{key}: a skip says why"
        pytest.skip(reason.strip())
    if kind == "broken":
        error, _, then = reason.rpartition("; then ")
        assert error.strip(), f"{key}: say 'broken: ERROR; then MODE'"
        assert then, f"{key}: say 'broken: ERROR; then MODE'"
        try:
            run_mode(then.strip(), key, tmp_path, monkeypatch)
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
        else:
            failure = ""
        if failure:
            assert error.split(":", 1)[0].strip() in failure, failure
            pytest.xfail(error.strip())
        pytest.fail(f"{key} runs now: set its mode to {then.strip()!r} in tests/docs/modes.py")
    run_mode(mode, key, tmp_path, monkeypatch)


QUERIES = sorted(key for key, mode in MODES.items() if "query" in mode and key in PYTHON)


@pytest.mark.parametrize("key", sorted(set(PYTHON) - set(QUERIES)))
def test_every_python_snippet_runs(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_snippet(key, tmp_path, monkeypatch)


@pytest.mark.django_db(
    transaction=True,
    databases=[
        "default",
        "reviews",
        "reviews_replica1",
        "reviews_replica2",
        "shard_0",
        "shard_1",
        "shard_2",
        "shard_3",
    ],
)
@pytest.mark.parametrize("key", QUERIES)
def test_every_query_snippet_runs(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_snippet(key, tmp_path, monkeypatch)


def manage_commands(snippet: Snippet) -> list[list[str]]:
    """The ``manage.py`` command lines of a shell block, as argument lists."""
    lines = snippet.code.replace("\\\n", " ").splitlines()
    commands = []
    for line in lines:
        text = line.strip().removeprefix("$ ")
        text = text.split(" #", 1)[0].strip()
        words = shlex.split(text) if text.startswith("python") else []
        if words[:2] == ["python", "manage.py"]:
            commands.append(words[2:])
        elif words[:3] == ["python", "-m", "django"]:
            commands.append(words[3:])
    return commands


SHELL_COMMANDS = [
    pytest.param(snippet, command, id=f"{snippet.page}:{snippet.line}:{command[0]}")
    for snippet in SHELL
    for command in manage_commands(snippet)
]


def test_shell_blocks_show_manage_commands() -> None:
    assert len(SHELL_COMMANDS) > 10


@pytest.mark.parametrize(("snippet", "command"), SHELL_COMMANDS)
def test_every_manage_command_of_the_docs_parses(snippet: Snippet, command: list[str]) -> None:
    name, *args = command
    commands = get_commands()
    assert name in commands, f"{snippet}: no command {name!r}"
    parser = load_command_class(commands[name], name).create_parser("manage.py", name)
    parser.parse_args(args)
