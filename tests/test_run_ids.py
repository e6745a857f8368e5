"""A copied run keeps its id: the store takes one, checked, and never twice."""

from __future__ import annotations

import pytest

import fittrace
from fittrace.exceptions import InvalidParameterError, ResourceAlreadyExistsError


def _create(store, run_id):
    return store.create_run("0", "ann", 1_700_000_000_000, "copied", {}, owned=False, run_id=run_id)


def test_a_run_can_be_created_with_a_given_id_once():
    store = fittrace.MlflowClient()._store
    run_id = "0123456789abcdef0123456789abcdef"
    assert _create(store, run_id).info.run_id == run_id
    assert fittrace.get_run(run_id).info.run_name == "copied"
    with pytest.raises(ResourceAlreadyExistsError, match=run_id):
        _create(store, run_id)


@pytest.mark.parametrize("run_id", ["../../etc", "ABC", "0123456789abcdef0123456789abcdeg", ""])
def test_a_given_run_id_must_be_32_hex_digits(run_id):
    with pytest.raises(InvalidParameterError, match="32 hexadecimal"):
        _create(fittrace.MlflowClient()._store, run_id)
