"""Property-based: whatever a caller passes to log_metric, log_param or set_tag, the call either
raises InvalidParameterError at the call site or the value is stored exactly: the store never
refuses (drops) what validation let through, and no other exception escapes."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fittrace
from fittrace.exceptions import InvalidParameterError, ParamConflictError

PROPERTIES = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.binary(max_size=4),
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=8),
)
keys = st.one_of(
    st.from_regex(r"[\w\-. /:]{1,30}", fullmatch=True),
    st.text(max_size=12),
    st.text(min_size=245, max_size=260, alphabet="ab"),
    anything,
)
integers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1]),
    st.integers(min_value=0, max_value=2**64 - 1).map(np.uint64),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(np.int64),
    st.floats(),
)
numbers = st.one_of(
    st.floats(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.fractions(),
    st.decimals(),
    st.sampled_from([Decimal("sNaN"), 10**400, -(10**309)]),
    st.floats(width=32).map(np.float32),
    integers,
    anything,
)


def _same(stored: float, logged: float) -> bool:
    return (math.isnan(stored) and math.isnan(logged)) or stored == logged


@pytest.fixture
def run_id() -> str:
    return fittrace.MlflowClient().create_run("0").info.run_id


@PROPERTIES
@given(key=keys, value=numbers, step=st.one_of(st.none(), integers), timestamp=integers)
def test_log_metric_stores_exactly_or_raises_invalid_parameter(run_id, key, value, step, timestamp):
    client = fittrace.MlflowClient()
    try:
        client.log_metric(run_id, key, value, timestamp=timestamp, step=step)
    except InvalidParameterError:
        return
    client._recorder.flush()
    history = client.get_metric_history(run_id, key)
    expected = (float(value), int(timestamp), 0 if step is None else int(step))
    assert any(
        _same(m.value, expected[0]) and (m.timestamp, m.step) == expected[1:] for m in history
    ), (expected, history[-3:])


@PROPERTIES
@pytest.mark.parametrize("kind", ["params", "tags"])
@given(key=keys, value=anything | numbers | st.text(max_size=8100))
def test_log_param_and_set_tag_store_exactly_or_raise_invalid_parameter(run_id, kind, key, value):
    client = fittrace.MlflowClient()
    write = client.log_param if kind == "params" else client.set_tag
    try:
        write(run_id, key, value)
    except ParamConflictError:  # the param holds another value already
        assert client.get_run(run_id).data.params[key] != str(value)
        return
    except InvalidParameterError:
        return
    if not key.startswith(("mlflow.", "fittrace.")):  # system tags: stored under one spelling
        assert getattr(client.get_run(run_id).data, kind)[key] == str(value)
