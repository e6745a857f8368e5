"""The model directory's YAML files are written without PyYAML; PyYAML (MLflow's reader) reads back what was written."""

from __future__ import annotations

import datetime

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fittrace.models import yaml_text

# Strings a YAML 1.1 reader would turn into something else if written unquoted.
_TRICKY = [
    "yes", "No", "off", "null", "~", "", "1.0", "1e5", "0x1f", "0o17", "1_000", "12:30", ".inf",
    "2024-01-01", "2024-01-01 10:00:00.5", "3.11.7", "2.13.0+cpu", "1.2.3rc1", "=", "<<",
    "-r requirements.txt", "pip<=24.0", "- a", "a: b", "a #b", "#x", "'q'", '"d"', "@x", "*a",
    "&a", "!t", "%p", "|", "> f", "[1]", "{a: 1}", " lead", "trail ", "tab\there", "two\nlines",
    "naïve ✓", "😀", "\x85", "\x7f", "\ufeff", "\ud800",
]  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.sampled_from(_TRICKY),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=6), st.sampled_from(_TRICKY)), inner, max_size=4
        ),
    ),
    max_leaves=16,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _VALUES, max_size=5))
@example({"deps": ["python=3.11.7", {"pip": ["a==1", "-r requirements.txt"]}], "e": {}, "l": []})
@example({"nested": [[1, [2, 3]], {"a": [1], "b": {"c": None}}], "nan": float("inf")})
def test_pyyaml_reads_back_what_was_written(document):
    text = yaml_text.dump(document)
    assert yaml.safe_load(text) == document
    assert text.isascii()


def test_the_layout_is_pyyamls_block_style():
    document = {
        "flavors": {"sklearn": {"code": None, "pickled_model": "model.pkl", "version": "1.5.2"}},
        "utc_time_created": "2026-01-02 03:04:05.678901",
        "signature": {"inputs": '[{"type": "double", "name": "x"}]', "outputs": None},
        "dependencies": ["python=3.11.7", "pip<=24.0", {"pip": ["scikit-learn==1.5.2"]}],
        "ratio": 1e-05,
        "flag": True,
    }
    expected = yaml.safe_dump(document, default_flow_style=False, sort_keys=True, width=1 << 20)
    assert yaml_text.dump(document, sort_keys=True) == expected


def test_values_outside_the_written_shapes_are_left_to_pyyaml():
    when = datetime.datetime(2026, 1, 2, 3, 4, 5)
    document = {"trained": when, "k" * 1100: "a key longer than YAML's plain-key limit"}
    assert yaml.safe_load(yaml_text.dump(document)) == document
