"""Facts the README and docs state about the package, checked against the package itself."""

from __future__ import annotations

import configparser
import re

from django.apps import apps

from tests.docs.snippets import ROOT

PAGES = [ROOT / "README.rst", ROOT / "docs" / "installation.rst"]


def _classifier_versions(framework: str) -> list[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    prefix = f"{framework} :: "
    return [
        line.strip()[len(prefix) :]
        for line in config["metadata"]["classifiers"].splitlines()
        if re.fullmatch(rf"{re.escape(prefix)}\d+\.\d+", line.strip())
    ]


def _tox_django_versions() -> list[str]:
    found = re.findall(r"^\s*django(\d)(\d+): Django>=", (ROOT / "tox.ini").read_text(), re.M)
    return [f"{major}.{minor}" for major, minor in found]


def test_the_django_versions_the_pages_claim_are_the_classifiers_and_the_tested_ones() -> None:
    classifiers = _classifier_versions("Framework :: Django")
    assert classifiers == _tox_django_versions()
    claim = "Django " + ", ".join(classifiers[:-1]) + f" or {classifiers[-1]}"
    for page in PAGES:
        assert claim in page.read_text(), f"{page.name} does not say {claim!r}"


def test_the_python_versions_the_pages_claim_are_the_classifiers() -> None:
    versions = _classifier_versions("Programming Language :: Python")
    claim = f"Python {versions[0]} to {versions[-1]}"
    for page in PAGES:
        assert claim in page.read_text(), f"{page.name} does not say {claim!r}"


def test_installation_names_every_model_the_app_creates() -> None:
    page = (ROOT / "docs" / "installation.rst").read_text()
    for model in apps.get_app_config("multidb_routers").get_models():
        assert f"multidb_routers.{model.__name__}" in page, model.__name__
    assert "The app has one model" not in page


def test_every_test_file_the_repository_names_exists() -> None:
    named = set()
    for folder in ("docs", "tests", "multidb_routers", "benchmarks", "example_project"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".rst", ".txt", ".sql", ".cfg", ".ini"} and path.is_file():
                named.update(re.findall(r"\btests/[\w/]+\.py\b", path.read_text()))
    for path in ROOT.glob("*.rst"):
        named.update(re.findall(r"\btests/[\w/]+\.py\b", path.read_text()))
    missing = sorted(name for name in named if not (ROOT / name).exists())
    assert missing == []
