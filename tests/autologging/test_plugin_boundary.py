"""The autologgers written as plugins use only fittrace's public API and are found only by entry point.

Public means: no module path component and no imported name starting with ``_`` (a plugin's
own modules are its business). These checks read the source; no framework is imported.
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "fittrace"
PLUGINS = ("lightgbm", "catboost", "statsmodels", "optuna")


def _private_uses(plugin: str) -> list[str]:
    """``file:line: what`` for every private fittrace name a plugin's modules import or reach."""
    found = []
    own = f"fittrace.{plugin}"
    for path in sorted((SRC / plugin).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            modules: list[str] = []
            names: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id == "fittrace" and node.attr.startswith("_"):
                    found.append(f"{path.name}:{node.lineno}: fittrace.{node.attr}")
            for module in modules:
                if (
                    module.split(".")[0] != "fittrace"
                    or module == own
                    or module.startswith(own + ".")
                ):
                    continue
                private = [part for part in module.split(".") if part.startswith("_")]
                private += [name for name in names if name.startswith("_")]
                if private:
                    found.append(f"{path.name}:{node.lineno}: {module} {private}")
    return found


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugin_imports_nothing_private_from_fittrace(plugin):
    assert _private_uses(plugin) == []


def test_the_check_catches_private_imports(tmp_path, monkeypatch):
    package = tmp_path / "fittrace" / "demo"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "import fittrace\n"
        "from fittrace._lazy import lazy_attributes\n"
        "from fittrace.autologging import _wrappers\n"
        "from fittrace.sklearn._metrics import training_metrics\n"
        "from fittrace.demo._own import fine\n"
        "x = fittrace._lazy\n"
    )
    monkeypatch.setattr(f"{__name__}.SRC", tmp_path / "fittrace")
    assert [use.split(":")[1] for use in _private_uses("demo")] == ["2", "3", "4", "6"]


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugin_is_registered_only_by_its_entry_point(plugin):
    pyproject = (SRC.parents[1] / "pyproject.toml").read_text()
    section = pyproject.split('[project.entry-points."fittrace.autologgers"]')[1].split("\n[")[0]
    assert f'{plugin} = "fittrace.{plugin}:INTEGRATION"' in section
    mention = re.compile(rf"fittrace\.{plugin}\b|fittrace/{plugin}\b")
    core = [
        path.relative_to(SRC)
        for path in SRC.rglob("*.py")
        if plugin not in path.relative_to(SRC).parts[:1] and mention.search(path.read_text())
    ]
    assert core == []
