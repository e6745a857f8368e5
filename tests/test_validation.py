"""Bad input fails at the call site with a clear error, and nothing of it is written."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

import fittrace
from fittrace.entities import Metric, Param, RunTag
from fittrace.exceptions import InvalidFilterError, InvalidParameterError, ParamConflictError

BAD_KEYS = [
    "bad!key",
    "semi;colon",
    "new\nline",
    "quote'key",
    "star*",
    "/leading-slash",
    "a/../b",
    "",
    "x" * 251,
]


def _stored(run_id):
    return fittrace.MlflowClient().get_run(run_id).data


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_rejected_for_params_metrics_and_tags(key):
    with fittrace.start_run() as run:
        for call in (
            lambda: fittrace.log_param(key, 1),
            lambda: fittrace.log_metric(key, 1.0),
            lambda: fittrace.set_tag(key, "v"),
        ):
            with pytest.raises(InvalidParameterError) as info:
                call()
            assert repr(key[:40]) in str(info.value) or (
                key == "" and "non-empty" in str(info.value)
            )
    data = _stored(run.info.run_id)
    assert data.params == {} and data.metrics == {}
    assert not [k for k in data.tags if not k.startswith("mlflow.")]


def test_keys_at_the_limits_are_accepted():
    key = "k" * 250
    allowed = "Aa0_-. /:x"
    with fittrace.start_run() as run:
        fittrace.log_param(key, "v")
        fittrace.log_metric(allowed, 1.0)
        fittrace.set_tag("nested/path:tag name.v1", "ok")
    data = _stored(run.info.run_id)
    assert data.params == {key: "v"}
    assert data.metrics == {allowed: 1.0}
    assert data.tags["nested/path:tag name.v1"] == "ok"


def test_non_string_key_is_rejected():
    with fittrace.start_run():
        with pytest.raises(InvalidParameterError, match="42"):
            fittrace.log_metric(42, 1.0)


def test_too_long_values():
    with fittrace.start_run() as run:
        fittrace.log_param("at_limit", "p" * 6000)
        fittrace.set_tag("at_limit", "t" * 8000)
        with pytest.raises(InvalidParameterError, match="6001.*6000"):
            fittrace.log_param("too_long", "p" * 6001)
        with pytest.raises(InvalidParameterError, match="8001.*8000"):
            fittrace.set_tag("too_long", "t" * 8001)
    data = _stored(run.info.run_id)
    assert set(data.params) == {"at_limit"}
    assert "too_long" not in data.tags and len(data.tags["at_limit"]) == 8000


@pytest.mark.parametrize("value", ["1.0", b"1", None, [1.0], {"v": 1}, object(), 1 + 2j])
def test_non_numeric_metric_values_are_rejected(value):
    with fittrace.start_run() as run:
        with pytest.raises(InvalidParameterError, match="'loss'.*number"):
            fittrace.log_metric("loss", value)
    assert fittrace.MlflowClient().get_metric_history(run.info.run_id, "loss") == []


def test_numeric_metric_types_are_stored_as_floats():
    with fittrace.start_run() as run:
        fittrace.log_metric("int", 3)
        fittrace.log_metric("fraction", Fraction(1, 4))
        fittrace.log_metric("huge_int", 10**20)
    assert _stored(run.info.run_id).metrics == {"int": 3.0, "fraction": 0.25, "huge_int": 1e20}


@pytest.mark.parametrize("step", [1.5, "3", None.__class__, [1]])
def test_non_integer_step_is_rejected(step):
    with fittrace.start_run() as run:
        with pytest.raises(InvalidParameterError, match="step"):
            fittrace.log_metric("m", 1.0, step=step)
    assert _stored(run.info.run_id).metrics == {}


def test_integral_float_step_and_bad_timestamp():
    with fittrace.start_run() as run:
        fittrace.log_metric("m", 1.0, step=2.0)
        with pytest.raises(InvalidParameterError, match="timestamp"):
            fittrace.log_metric("m", 2.0, step=3, timestamp="yesterday")
    [metric] = fittrace.MlflowClient().get_metric_history(run.info.run_id, "m")
    assert metric.step == 2 and isinstance(metric.step, int)


def test_param_same_value_again_is_fine_other_value_conflicts():
    with fittrace.start_run() as run:
        fittrace.log_param("alpha", 0.1)
        fittrace.log_param("alpha", "0.1")
        fittrace.log_params({"alpha": 0.1, "beta": 2})
        with pytest.raises(ParamConflictError, match=r"'alpha'.*'0\.1'.*'0\.2'"):
            fittrace.log_param("alpha", 0.2)
    assert _stored(run.info.run_id).params == {"alpha": "0.1", "beta": "2"}


def test_param_conflict_writes_nothing_of_the_batch():
    with fittrace.start_run() as run:
        fittrace.log_param("alpha", 0.1)
        with pytest.raises(ParamConflictError):
            fittrace.log_params({"gamma": 1, "alpha": 0.9, "delta": 2})
        with pytest.raises(ParamConflictError):
            fittrace.MlflowClient().log_batch(
                run.info.run_id,
                metrics=[Metric("acc", 0.5, 0, 0)],
                params=[Param("alpha", "0.3")],
                tags=[RunTag("t", "x")],
            )
    data = _stored(run.info.run_id)
    assert data.params == {"alpha": "0.1"}
    assert data.metrics == {}
    assert "t" not in data.tags


def test_invalid_item_in_a_batch_writes_nothing():
    client = fittrace.MlflowClient()
    with fittrace.start_run() as run:
        with pytest.raises(InvalidParameterError, match="not-a-number"):
            client.log_batch(
                run.info.run_id,
                metrics=[Metric("good", 1.0, 0, 0), Metric("bad", "not-a-number", 0, 0)],  # type: ignore[arg-type]
                params=[Param("p", "1")],
                tags=[RunTag("t", "x")],
            )
    data = _stored(run.info.run_id)
    assert data.metrics == {} and data.params == {} and "t" not in data.tags


def test_param_conflict_detected_against_the_store_after_reopening(reopen):
    with fittrace.start_run() as run:
        fittrace.log_param("alpha", 0.1)
    client = reopen()  # a new process resuming the run knows nothing of the first one's cache
    with fittrace.start_run(run_id=run.info.run_id):
        fittrace.log_param("alpha", 0.1)
        with pytest.raises(ParamConflictError, match="alpha"):
            fittrace.log_param("alpha", 0.5)
    assert client.get_run(run.info.run_id).data.params == {"alpha": "0.1"}


@pytest.mark.parametrize("name", ["   ", "n" * 251, 7])
def test_bad_run_names(name):
    with pytest.raises(InvalidParameterError, match="run_name"):
        fittrace.start_run(run_name=name)
    assert fittrace.active_run() is None
    assert fittrace.search_runs(output_format="list") == []


def test_set_experiment_needs_exactly_one_argument():
    with pytest.raises(InvalidParameterError):
        fittrace.set_experiment()
    with pytest.raises(InvalidParameterError):
        fittrace.set_experiment("a", "1")


def test_nan_metric_is_valid_input():
    with fittrace.start_run() as run:
        fittrace.log_metric("m", float("nan"))
    assert math.isnan(_stored(run.info.run_id).metrics["m"])


# -- search filters --------------------------------------------------------------------

MALFORMED_FILTERS = [
    ("metrics.rmse <", "end of filter"),
    ("tags.model = 'xgboost", "'"),
    ("params.alpha = '0.1' AND", "end of filter"),
    ("foo.bar = 1", "'foo'"),
    ("metrics.rmse ~ 3", "'~'"),
    ("metrics.rmse < 5 5", "'5'"),
    ("params.alpha = '1')", "')'"),
    ("metrics.rmse < abc", "'abc'"),
    ("run_name LIKE", "end of filter"),
    ("attributes.run_id IN ('a', 'b'", "end of filter"),
    ("metrics.rmse >= '3'", "'3'"),
]

INJECTION_FILTERS = [
    ("tags.model = 'x'; DROP TABLE runs; --", "';'"),
    ("tags.model = 'x' OR 1=1", "'1'"),
    ("tags.model = 'x' UNION SELECT * FROM runs", "UNION"),
    ("attributes.status = 'X' -- comment", "'-'"),
    ("1=1", "'1'"),
]


def _runs_for_search():
    ids = []
    for model in ("xgboost", "linear"):
        with fittrace.start_run() as run:
            fittrace.set_tag("model", model)
            fittrace.log_metric("rmse", 1.0)
        ids.append(run.info.run_id)
    return ids


def _assert_db_intact(sql, run_ids):
    assert sql("PRAGMA integrity_check") == [("ok",)]
    assert sorted(r for (r,) in sql("SELECT run_uuid FROM runs")) == sorted(run_ids)
    assert sql("SELECT COUNT(*) FROM tags WHERE key = 'model'") == [(2,)]


@pytest.mark.parametrize(("filter_string", "token"), MALFORMED_FILTERS + INJECTION_FILTERS)
def test_malformed_and_injection_filters_name_the_bad_token(filter_string, token, sql):
    run_ids = _runs_for_search()
    with pytest.raises(InvalidFilterError) as info:
        fittrace.search_runs(filter_string=filter_string)
    message = str(info.value)
    assert token in message, message
    assert "position" in message, message
    _assert_db_intact(sql, run_ids)


@pytest.mark.parametrize(
    "filter_string",
    [
        "tags.`a'; DROP TABLE runs; --` = '1'",
        "tags.model = 'x''; DROP TABLE runs; --'",
        "params.\"p) OR (1=1\" = 'v'",
        "run_name LIKE '%' ",
    ],
)
def test_quoted_injection_is_only_data(filter_string, sql):
    run_ids = _runs_for_search()
    found = fittrace.search_runs(filter_string=filter_string, output_format="list")
    expected = run_ids if "LIKE '%'" in filter_string else []
    assert sorted(r.info.run_id for r in found) == sorted(expected)
    _assert_db_intact(sql, run_ids)


def test_bad_order_by_and_max_results(sql):
    run_ids = _runs_for_search()
    with pytest.raises(InvalidFilterError, match="';'"):
        fittrace.search_runs(order_by=["metrics.rmse DESC; DROP TABLE runs"])
    with pytest.raises(InvalidParameterError, match="max_results"):
        fittrace.search_runs(max_results=0)
    _assert_db_intact(sql, run_ids)
