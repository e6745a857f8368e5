"""Metric histories, stored in column blocks: order, special values, the columns read, and
stores written before blocks (one row per point) read the same after their migration."""

from __future__ import annotations

import math
import random

import pytest

import fittrace
from fittrace.entities import Metric, MetricHistory
from fittrace.store import metric_blocks
from fittrace.testing import reset_tracking


def _expected(logged: list[tuple[float, int, int]], key: str) -> list[Metric]:
    """The history a user expects: by step, then timestamp, ties in the order logged."""
    ordered = sorted(enumerate(logged), key=lambda p: (p[1][2], p[1][1], p[0]))
    return [Metric(key, v, ts, step) for _, (v, ts, step) in ordered]


def _log(run_id: str, key: str, points: list[tuple[float, int, int]], per_call: int) -> None:
    client = fittrace.MlflowClient()
    for i in range(0, len(points), per_call):
        metrics = [Metric(key, v, ts, step) for v, ts, step in points[i : i + per_call]]
        client.log_batch(run_id, metrics=metrics)


@pytest.mark.parametrize("per_call", [1, 7, 5000])
def test_a_history_logged_out_of_order_reads_by_step_then_time(per_call, monkeypatch):
    monkeypatch.setenv("FITTRACE_SYNC", "1")  # each call its own write: blocks of per_call points
    rng = random.Random(per_call)
    points = [(rng.random(), rng.randrange(1000, 1010), rng.randrange(0, 300)) for _ in range(3000)]
    with fittrace.start_run() as run:
        _log(run.info.run_id, "loss", points, per_call)
    client = fittrace.MlflowClient()
    history = client.get_metric_history(run.info.run_id, "loss")
    assert history == _expected(points, "loss")
    assert client.get_run(run.info.run_id).data.metrics["loss"] == history[-1].value


def test_steps_in_order_across_many_small_writes_need_few_blocks(monkeypatch, sql):
    monkeypatch.setenv("FITTRACE_SYNC", "1")  # each log_metric is its own write
    with fittrace.start_run() as run:
        for step in range(6000):
            fittrace.log_metric("acc", step / 6000, step=step)
    history = fittrace.MlflowClient().get_metric_history(run.info.run_id, "acc")
    assert [m.step for m in history] == list(range(6000))
    assert [m.value for m in history] == [step / 6000 for step in range(6000)]
    blocks = sql("SELECT COUNT(*) FROM metric_blocks WHERE run_uuid = ?", (run.info.run_id,))
    # 6,000 one-point writes grown into blocks of 256, not 6,000 rows
    assert blocks == [(math.ceil(6000 / metric_blocks.SMALL_BLOCK),)]


def test_nan_and_infinities_come_back():
    values = [float("nan"), math.inf, -math.inf, 0.0, -0.0, 1e308, 5e-324]
    with fittrace.start_run() as run:
        for step, value in enumerate(values):
            fittrace.log_metric("m", value, step=step)
    history = fittrace.MlflowClient().get_metric_history(run.info.run_id, "m")
    assert math.isnan(history[0].value)
    assert [m.value for m in history[1:]] == values[1:]
    assert math.copysign(1, history[4].value) == -1


def test_the_columns_hold_what_the_metric_list_holds():
    with fittrace.start_run() as run:
        for step in range(100):
            fittrace.log_metric("loss", 1 / (step + 1), step=step, timestamp=1_000 + step)
        fittrace.log_metric("loss", 7.0, step=50, timestamp=999)
    client = fittrace.MlflowClient()
    columns = client.get_metric_history_columns(run.info.run_id, "loss")
    assert isinstance(columns, MetricHistory) and len(columns) == 101
    assert columns.metrics() == client.get_metric_history(run.info.run_id, "loss")
    assert columns.steps[50:52].tolist() == [50, 50]
    assert columns.timestamps[50:52].tolist() == [999, 1_050]
    assert columns.values[50] == 7.0
    assert len(client.get_metric_history_columns(run.info.run_id, "never")) == 0


def test_the_columns_travel_through_the_server(server):
    with fittrace.start_run() as run:
        for step in range(2000):
            fittrace.log_metric("loss", math.inf if step == 3 else step * 0.25, step=step)
    columns = fittrace.MlflowClient().get_metric_history_columns(run.info.run_id, "loss")
    assert columns.steps.tolist() == list(range(2000))
    assert columns.values[3] == math.inf and columns.values[1999] == 1999 * 0.25


def test_an_older_server_without_columns_still_answers_histories(server, monkeypatch):
    from fittrace.store import wire

    monkeypatch.setattr(wire, "METHODS", wire.METHODS - {"get_metric_history_columns"})
    with fittrace.start_run() as run:
        for step in range(10):
            fittrace.log_metric("loss", step, step=step)
    client = fittrace.MlflowClient()
    assert [m.value for m in client.get_metric_history(run.info.run_id, "loss")] == list(range(10))
    assert client.get_metric_history_columns(run.info.run_id, "loss").steps.tolist() == list(
        range(10)
    )


def test_a_store_with_one_row_per_point_is_migrated_to_blocks():
    """A store written by fittrace 0.2 (schema 6, a ``metrics`` table) opens with the same
    histories: order, ties, NaN, and each key apart."""
    with fittrace.start_run() as run:
        fittrace.log_param("p", 1)
    run_id = run.info.run_id
    store = fittrace.MlflowClient()._store
    points = [(0.5, 10, 2), (0.25, 5, 1), (None, 20, 2), (0.75, 10, 2), (1.5, 1, 0)]
    with store._write() as conn:
        conn.execute(
            store._ddl(
                "CREATE TABLE metrics (run_uuid TEXT NOT NULL, key TEXT NOT NULL, value REAL,"
                " is_nan INTEGER NOT NULL DEFAULT 0, timestamp INTEGER NOT NULL,"
                " step INTEGER NOT NULL DEFAULT 0)"
            )
        )
        conn.executemany(
            "INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?)",
            [(run_id, "a", v, int(v is None), ts, step) for v, ts, step in points]
            + [(run_id, "b", 3.0, 0, 7, 0)],
        )
        conn.execute("DELETE FROM metric_blocks")
        store._set_schema_version(conn, 6)
    reset_tracking()

    client = fittrace.MlflowClient()
    history = client.get_metric_history(run_id, "a")
    assert [(m.step, m.timestamp) for m in history] == [(0, 1), (1, 5), (2, 10), (2, 10), (2, 20)]
    assert [m.value for m in history[:4]] == [1.5, 0.25, 0.5, 0.75]
    assert math.isnan(history[4].value)
    assert client.get_metric_history(run_id, "b") == [Metric("b", 3.0, 7, 0)]
    with client._store._write() as conn:
        with pytest.raises(Exception, match="metrics"):
            conn.execute("SELECT COUNT(*) FROM metrics")


def test_blocks_read_in_order_when_written_out_of_order():
    """Blocks out of order are merged by (step, timestamp); tied points keep the order logged."""
    rows = []
    for b, steps in enumerate(([5, 6, 7], [1, 2, 3], [3, 3, 9])):
        values = [10.0 * b + i for i in range(3)]  # tells apart the points of one step
        block = metric_blocks.block(steps, [0, 0, 0], values)
        rows.append((metric_blocks.in_order(steps, [0, 0, 0]), *metric_blocks.packed(block)))
    steps, _, values = metric_blocks.history(rows)
    assert steps.tolist() == [1, 2, 3, 3, 3, 5, 6, 7, 9]
    assert values.tolist() == [10.0, 11.0, 12.0, 20.0, 21.0, 0.0, 1.0, 2.0, 22.0]


def test_columns_travel_packed_and_malformed_ones_are_refused():
    from array import array

    from fittrace.store import wire

    history = MetricHistory(
        "m", array("q", [1, 2]), array("q", [5, 6]), array("d", [0.5, math.nan])
    )
    back = wire.loads(wire.dumps(history))
    assert back.key == "m" and back.steps.tolist() == [1, 2] and back.timestamps.tolist() == [5, 6]
    assert back.values[0] == 0.5 and math.isnan(back.values[1])
    for bad in (
        '{"$a": "i", "bytes": ""}',  # a type the columns never have
        '{"$a": "q", "bytes": "not base64!"}',
        '{"$a": "q", "bytes": "AAAA"}',  # 3 bytes: not a whole int64
        '{"$a": "q", "bytes": "", "more": 1}',
        '{"$a": "q", "other": ""}',
    ):
        with pytest.raises(ValueError):
            wire.loads(bad)
