"""Environment opt-in: FITTRACE_AUTOLOG* parsing (in process) and the launcher's environment."""

from __future__ import annotations

import json
import os

import pytest

from fittrace import autologging
from fittrace.autologging import AutologgingWarning, launcher
from fittrace.autologging.env import enable_from_environment
from fittrace.autologging.settings import AutologSettings
from fittrace.exceptions import InvalidParameterError


def _enabled():
    settings = autologging.get_settings("fakeml")
    return settings if settings is not None and not settings.disable else None


@pytest.mark.parametrize(
    "value", ["1", "true", "ALL", "fakeml", "fake", " sklearn_missing_ok ,fake "]
)
def test_selection_enables(integration, value, recwarn):
    enable_from_environment({"FITTRACE_AUTOLOG": value})
    assert _enabled() is not None


@pytest.mark.parametrize(
    "env", [{}, {"FITTRACE_AUTOLOG": "0"}, {"FITTRACE_AUTOLOG": "false"}, {"FITTRACE_AUTOLOG": ""}]
)
def test_unset_or_off_enables_nothing(integration, env):
    enable_from_environment(env)
    assert _enabled() is None


def test_import_auto_default_is_all(integration):
    enable_from_environment({}, default="all")
    assert _enabled() is not None


def test_disabled_list(integration):
    enable_from_environment({"FITTRACE_AUTOLOG": "1", "FITTRACE_AUTOLOG_DISABLED": "fake"})
    assert _enabled() is None


def test_unknown_integration_warns_naming_it(integration):
    with pytest.warns(
        AutologgingWarning,
        match="FITTRACE_AUTOLOG names unknown autolog integration 'nosuch'; known: fake, fakeml",
    ):
        enable_from_environment({"FITTRACE_AUTOLOG": "nosuch,fakeml"})
    assert _enabled() is not None


def test_typed_options_and_integration_options(integration):
    enable_from_environment(
        {
            "FITTRACE_AUTOLOG": "1",
            "FITTRACE_AUTOLOG_LOG_MODELS": "false",
            "FITTRACE_AUTOLOG_EXTRA_TAGS": '{"team": "a", "n": 2}',
            "FITTRACE_AUTOLOG_REGISTERED_MODEL_NAME": "clf",
            "FITTRACE_AUTOLOG_FAKEML_LOG_COEF": "0",
        }
    )
    settings = _enabled()
    assert settings.log_models is False and settings.log_coef is False
    assert settings.extra_tags == {"team": "a", "n": "2"}
    assert settings.registered_model_name == "clf"


def test_bad_value_and_unknown_option_warn_and_are_ignored(integration):
    env = {
        "FITTRACE_AUTOLOG": "1",
        "FITTRACE_AUTOLOG_LOG_MODELS": "perhaps",
        "FITTRACE_AUTOLOG_EXTRA_TAGS": "{not json",
        "FITTRACE_AUTOLOG_LOG_MODLES": "false",
        "FITTRACE_AUTOLOG_SILENT": "true",
    }
    with pytest.warns(AutologgingWarning) as caught:
        enable_from_environment(env)
    messages = [str(w.message) for w in caught]
    assert any("FITTRACE_AUTOLOG_LOG_MODELS='perhaps' is ignored" in m for m in messages)
    assert any("FITTRACE_AUTOLOG_EXTRA_TAGS='{not json' is ignored" in m for m in messages)
    assert any(
        m.startswith("FITTRACE_AUTOLOG_LOG_MODLES is not an autolog option") for m in messages
    )
    assert len(messages) == 3
    settings = _enabled()
    assert settings.log_models is True and settings.silent is True


def test_launcher_environment_restores_the_users_variables():
    base = {"PYTHONPATH": "/mine", "FITTRACE_AUTOLOG": "0", "HOME": "/h"}
    env = launcher.build_environment(
        base, only="sklearn", disable="keras", options={"log_models": "false"}
    )
    assert env["PYTHONPATH"] == launcher.BOOTSTRAP_DIR + os.pathsep + "/mine"
    assert env["FITTRACE_AUTOLOG"] == "sklearn" and env["FITTRACE_AUTOLOG_DISABLED"] == "keras"
    assert env["FITTRACE_AUTOLOG_LOG_MODELS"] == "false" and env["HOME"] == "/h"
    assert json.loads(env["FITTRACE_AUTOLOG_BOOTSTRAP"]) == {
        "PYTHONPATH": "/mine",
        "FITTRACE_AUTOLOG": "0",
        "FITTRACE_AUTOLOG_DISABLED": None,
        "FITTRACE_AUTOLOG_LOG_MODELS": None,
    }
    inherited = launcher.build_environment({}, subprocesses=True)
    assert "FITTRACE_AUTOLOG_BOOTSTRAP" not in inherited and inherited["FITTRACE_AUTOLOG"] == "all"
    assert set(os.listdir(launcher.BOOTSTRAP_DIR)) - {"__pycache__"} == {
        "sitecustomize.py"
    }  # shadows nothing else


def test_launcher_needs_a_command(capsys):
    with pytest.raises(SystemExit) as info:
        launcher.main([])
    assert info.value.code == 2
    assert "give the command to run" in capsys.readouterr().err


def test_a_bad_tag_key_in_extra_tags_warns_at_start_up(integration):
    """Otherwise every autologged run would fail to start, long after the script started."""
    env = {"FITTRACE_AUTOLOG": "1", "FITTRACE_AUTOLOG_EXTRA_TAGS": '{"team": "a", "bad key!": "x"}'}
    with pytest.warns(AutologgingWarning, match=r"FITTRACE_AUTOLOG_EXTRA_TAGS=.* is ignored.*'!'"):
        enable_from_environment(env)
    assert _enabled().extra_tags is None
    with pytest.raises(InvalidParameterError, match="'bad key!'"):
        AutologSettings(extra_tags={"bad key!": "x"})
