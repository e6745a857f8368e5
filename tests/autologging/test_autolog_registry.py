"""Discovery through entry points, aliases, version ranges, settings parsing."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
import typing

import pytest
from fakeml_support import FakeSettings

from fittrace import autologging
from fittrace.autologging import (
    AutologgingWarning,
    AutologSettings,
    Integration,
    registry,
    versions,
)
from fittrace.exceptions import InvalidParameterError

THIRD_PARTY = '''
"""An autologger shipped by another package: one entry point is all it takes."""
from fittrace.autologging import Integration


def _capture(call):
    call.log_params({"from": "plugin", "alpha": call.instance.alpha})
    yield


def _install(patcher):
    patcher.patch(patcher.module.Model, "fit", _capture)


INTEGRATION = Integration(name="fakeplugin", module="fakeml", install=_install, aliases=("fp",))
'''


@pytest.fixture
def fresh_registry(monkeypatch):
    """An empty registry that has not looked at entry points yet."""
    for name in ("_integrations", "_aliases", "_states"):
        monkeypatch.setattr(registry, name, {})
    monkeypatch.setattr(registry, "_failed_entry_points", set())
    monkeypatch.setattr(registry, "_discovered", False)
    yield
    registry.unpatch()


@pytest.fixture
def plugin_dist(tmp_path, fake_source, monkeypatch):
    """A third-party distribution (dist-info with entry_points.txt) on sys.path, with one broken entry."""
    site = tmp_path / "site"
    (site / "fittrace_fakeplugin-1.0.dist-info").mkdir(parents=True)
    (site / "fittrace_fakeplugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fittrace-fakeplugin\nVersion: 1.0\n"
    )
    (site / "fittrace_fakeplugin-1.0.dist-info" / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [console_scripts]
            fakeplugin = fakeplugin_autolog:main

            [fittrace.autologgers]
            fakeplugin = fakeplugin_autolog:INTEGRATION
            brokenplugin = no_such_module_xyz:INTEGRATION
            """
        )
    )
    (site / "fakeplugin_autolog.py").write_text(THIRD_PARTY)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield site
    sys.modules.pop("fakeplugin_autolog", None)


def test_third_party_entry_point_is_discovered_and_a_broken_one_skipped(
    fresh_registry, plugin_dist, tracking, all_runs
):
    with pytest.warns(AutologgingWarning, match="'brokenplugin'.*no_such_module_xyz") as caught:
        autologging.autolog()
    assert "fakeml" not in sys.modules
    assert sum("brokenplugin" in str(w.message) for w in caught) == 1
    assert "fakeplugin" in autologging.list_integrations()
    assert "brokenplugin" not in autologging.list_integrations()
    assert autologging.get_integration("fp").name == "fakeplugin"

    fakeml = importlib.import_module("fakeml")
    fakeml.Model(5.0).fit([1])
    (run,) = all_runs()
    assert run.data.params == {"from": "plugin", "alpha": "5.0"}
    assert run.data.tags["fittrace.autologging"] == "fakeplugin"


def test_autolog_options_and_exclusions(integration, tracking, all_runs):
    with pytest.raises(TypeError, match="'log_coef'"):
        autologging.autolog(log_coef=False)  # integration-specific: only through its own autolog()
    autologging.autolog(exclude_flavors=["fake"])
    assert autologging.get_settings("fakeml") is None
    autologging.autolog(log_models=False)
    settings = autologging.get_settings("fake")
    assert settings.log_models is False and settings.log_coef is True
    fakeml = importlib.import_module("fakeml")
    fakeml.Model().fit([1])
    assert len(all_runs()) == 1


def test_unknown_integration_name(integration):
    with pytest.raises(InvalidParameterError, match="'nope'.*fake, fakeml"):
        autologging.enable("nope")


def test_unsupported_version_warns_or_stays_off(fake_source, tracking, monkeypatch, all_runs):
    from fakeml_support import make_integration

    monkeypatch.setattr(registry, "_discovered", True)
    registry.register(make_integration(supported_versions=">=2.0"))
    try:
        autologging.enable("fakeml", disable_for_unsupported_versions=True)
        with pytest.warns(
            AutologgingWarning,
            match=r"supports fakeml >=2.0, but 1.2.0 is installed: autologging stays off",
        ):
            fakeml = importlib.import_module("fakeml")
        assert not hasattr(vars(fakeml.Model)["fit"], "__wrapped__")
        fakeml.Model().fit([1])
        assert all_runs() == []
        autologging.enable("fakeml")  # warned already: once per integration
        fakeml.Model().fit([1])
        assert len(all_runs()) == 1
    finally:
        registry.unregister("fakeml")


@pytest.mark.parametrize(
    ("version", "spec"),
    [
        ("1.3.0", ">=1.3"),
        ("1.2.9", ">=1.3"),
        ("2.16.0rc1", ">=2.16"),
        ("2.16.1", ">=2.16,<3"),
        ("3.0", ">=2.16,<3"),
        ("1.4.2", "~=1.4"),
        ("2.0", "~=1.4"),
        ("1.4.2", "==1.4.*"),
        ("1.5", "!=1.4.*"),
        ("2.13.0+cpu", ">=2.2"),
        ("1.0.post1", ">1.0"),
        ("1.0.dev3", "<1.0"),
    ],
)
def test_version_comparator_agrees_with_packaging(version, spec):
    packaging = pytest.importorskip("packaging.specifiers")
    expected = packaging.SpecifierSet(spec).contains(version, prereleases=True)
    assert versions.version_matches(version, spec) is expected


def test_settings_parse_text_to_declared_types():
    parse = AutologSettings.parse_option
    assert parse("log_models", "false") is False and parse("silent", " YES ") is True
    assert parse("registered_model_name", "none") is None
    assert parse("registered_model_name", "clf") == "clf"
    assert parse("extra_tags", '{"team": "a"}') == {"team": "a"}
    with pytest.raises(ValueError, match="boolean"):
        parse("log_models", "maybe")
    with pytest.raises(ValueError, match="JSON object"):
        parse("extra_tags", "[1]")
    settings = AutologSettings(extra_tags={"n": 1})
    assert settings.extra_tags == {"n": "1"}
    with pytest.raises(InvalidParameterError, match="extra_tags=.*dict"):
        AutologSettings(extra_tags="team=a")


class TunerSettings(AutologSettings):
    max_trials: int | None = 5
    metric: str = "loss"
    weights: typing.Optional[dict] = None  # noqa: UP045 - third parties may write typing's spelling

    def validate(self):
        if self.max_trials is not None and self.max_trials < 1:
            raise InvalidParameterError(f"max_trials must be >= 1, got {self.max_trials}")


def test_settings_subclass_adds_typed_checked_immutable_options():
    settings = TunerSettings(max_trials=3, log_models=False)
    assert (settings.max_trials, settings.metric, settings.log_models) == (3, "loss", False)
    assert TunerSettings.option_names()[-3:] == ("max_trials", "metric", "weights")
    assert settings == TunerSettings(log_models=False, max_trials=3) != TunerSettings()
    assert repr(settings).startswith("TunerSettings(log_models=False,")
    with pytest.raises(AttributeError, match="immutable"):
        settings.metric = "acc"
    with pytest.raises(TypeError, match="'max_trails'.*allowed:.*max_trials"):
        TunerSettings(max_trails=3)
    with pytest.raises(InvalidParameterError, match="max_trials='3'.*int"):
        TunerSettings(max_trials="3")
    with pytest.raises(InvalidParameterError, match="max_trials=True"):
        TunerSettings(max_trials=True)  # bool is not accepted as a number
    with pytest.raises(InvalidParameterError, match="weights=.*"):
        TunerSettings(weights=[1])
    with pytest.raises(InvalidParameterError, match=">= 1"):
        TunerSettings(max_trials=0)
    assert TunerSettings.parse_option("weights", "none") is None
    assert TunerSettings.parse_option("max_trials", "7") == 7

    class NoDefault(AutologSettings):
        level: int

    with pytest.raises(TypeError, match="NoDefault.level.*default"):
        NoDefault()

    class Unresolvable(AutologSettings):
        device: TorchDevice | None = None  # noqa: F821 - imported only for type checkers

    with pytest.raises(TypeError, match="Unresolvable.device.*TorchDevice"):
        Unresolvable()


def test_install_named_as_text_is_imported_only_when_the_framework_is(
    fake_source, tracking, fresh_registry, all_runs
):
    integration = Integration(
        name="fakeml",
        module="fakeml",
        install="fakeml_support:install",
        settings_class=FakeSettings,
    )
    sys.modules.pop("fakeml_support", None)
    autologging.register(integration)
    autologging.autolog()
    assert "fakeml_support" not in sys.modules
    importlib.import_module("fakeml").Model(2.0).fit([1])
    (run,) = all_runs()
    assert run.data.params == {"alpha": "2.0"}
    with pytest.raises(TypeError, match="install must be"):
        Integration(name="x", module="x", install="no_colon")


def test_autolog_in_a_fresh_interpreter_loads_only_the_declarations():
    """The start-up budget of fittrace.autolog() rests on this: no framework, no heavy stdlib."""
    probe = (
        "import json, sys; before = set(sys.modules); import fittrace; fittrace.autolog(); "
        "print(json.dumps({'new': sorted(set(sys.modules) - before), "
        "'enabled': sorted(n for n in fittrace.autologging.list_integrations() "
        "if fittrace.autologging.get_settings(n))}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert {"sklearn", "xgboost", "tensorflow", "pytorch"} <= set(result["enabled"])
    heavy = {
        "typing",
        "dataclasses",
        "inspect",
        "logging",
        "wrapt",
        "fittrace.autologging.patching",
    }
    frameworks = {"sklearn", "xgboost", "keras", "tensorflow", "torch", "numpy", "pandas"}
    assert not set(result["new"]) & (heavy | frameworks)


@pytest.mark.parametrize("imported_first", [True, False], ids=["imported-first", "enabled-first"])
def test_a_folder_named_like_the_framework_is_not_patched(
    tmp_path, monkeypatch, fresh_registry, imported_first
):
    """A directory called e.g. ``sklearn/`` on sys.path imports as a namespace package: not the framework."""
    installed = []
    (tmp_path / "fakens_framework").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    autologging.register(
        Integration(name="fakens", module="fakens_framework", install=installed.append)
    )
    try:
        if imported_first:
            namespace = importlib.import_module("fakens_framework")
        autologging.enable("fakens")
        if not imported_first:
            namespace = importlib.import_module("fakens_framework")
        assert namespace.__file__ is None
        assert installed == []
    finally:
        sys.modules.pop("fakens_framework", None)
