"""Searches that stay fast at 100,000 runs: page tokens that resume after the last run (old
offset tokens still work), the same answers whichever way the store finds them, and query
plans that never fall back to reading a whole table (checked on the plan, not on time)."""

from __future__ import annotations

import base64
import contextlib
import json
import math
import re

import pytest

from fittrace.exceptions import InvalidParameterError
from fittrace.store.sqlite import SqliteStore
from fittrace.tracking.client import Client, page_token_at

N_RUNS = 40


@pytest.fixture
def experiment() -> tuple[Client, str]:
    """40 runs with ties everywhere: start times in threes, metric ``m`` in five values, some
    runs with ``m`` NaN or missing; params ``p`` (4 values) and ``q`` (2 values)."""
    client = Client()
    experiment_id = client.create_experiment("scale")
    run_ids = [
        client.create_run(experiment_id, start_time=1_000 + i // 3, run_name=f"r{i}").info.run_id
        for i in range(N_RUNS)
    ]
    metrics = [
        (run_id, "m", math.nan if i % 11 == 0 else float(i % 5), 0, 0)
        for i, run_id in enumerate(run_ids)
        if i % 7
    ]
    metrics += [(run_id, "other", float(i), 0, 0) for i, run_id in enumerate(run_ids)]
    params = [(run_id, "p", str(i % 4)) for i, run_id in enumerate(run_ids)]
    params += [(run_id, "q", str(i % 2)) for i, run_id in enumerate(run_ids)]
    client._store.write_batch(metrics, params, [])
    return client, experiment_id


def expected_order(runs, metric: str | None, direction: str = "DESC") -> list[str]:
    """Run ids by ``metric`` (runs without a value last), then newest first, then by id."""

    def key(run):
        value = run.data.metrics.get(metric) if metric else None
        missing = value is None or math.isnan(value)
        sign = -1 if direction == "DESC" else 1
        return (missing, 0 if missing else sign * value, -run.info.start_time, run.info.run_id)

    return [r.info.run_id for r in sorted(runs, key=key)]


def all_pages(client: Client, experiment_id: str, filter_string: str, order_by, size: int):
    ids, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string, max_results=size, order_by=order_by, page_token=token
        )
        ids += [r.info.run_id for r in page]
        token = page.token
        if token is None:
            return ids


ORDERS = [None, ["metrics.m DESC"], ["metrics.m ASC"], ["params.p DESC"]]
FILTERS = ["", "params.q = '1'", "metrics.other < 30 AND params.p != '2'"]


@pytest.mark.parametrize("window", [None, (2, 1, 3)], ids=["default", "tiny-window"])
@pytest.mark.parametrize("filter_string", FILTERS)
def test_pages_walk_the_whole_ordered_result(experiment, filter_string, window):
    client, experiment_id = experiment
    if window:  # the store gives up probing runs in order at once and plans every search
        client._store._WINDOW = window
    for order_by in ORDERS:
        everything = client.search_runs(
            [experiment_id], filter_string, max_results=1000, order_by=order_by
        )
        if order_by is None or "metrics.m" in order_by[0]:
            metric, direction = (None, "DESC") if order_by is None else order_by[0][8:].split()
            assert [r.info.run_id for r in everything] == expected_order(
                everything, metric, direction
            )
        for size in (1, 4, 7):
            assert all_pages(client, experiment_id, filter_string, order_by, size) == [
                r.info.run_id for r in everything
            ], (order_by, size)


def test_offset_tokens_and_tokens_of_another_order_still_page(experiment):
    client, experiment_id = experiment
    order_by = ["metrics.m DESC"]
    everything = [
        r.info.run_id
        for r in client.search_runs([experiment_id], max_results=1000, order_by=order_by)
    ]
    by_offset = client.search_runs(
        [experiment_id], max_results=5, order_by=order_by, page_token=page_token_at(30)
    )
    assert [r.info.run_id for r in by_offset] == everything[30:35]
    newest_first = client.search_runs([experiment_id], max_results=10)
    reordered = client.search_runs(
        [experiment_id], max_results=5, order_by=order_by, page_token=newest_first.token
    )
    assert [r.info.run_id for r in reordered] == everything[10:15]


@pytest.mark.parametrize(
    "position",
    [
        {"offset": 5, "after": ["x", "y"], "order": []},
        {"offset": 5, "after": [1000, "a", "b"], "order": []},
        {"offset": 5, "after": "1000", "order": []},
        {"offset": -1},
    ],
)
def test_a_forged_page_token_is_rejected(experiment, position):
    client, experiment_id = experiment
    token = base64.urlsafe_b64encode(json.dumps(position).encode()).decode()
    with pytest.raises(InvalidParameterError, match="Invalid page_token"):
        client.search_runs([experiment_id], page_token=token)


class _Recorder:
    """The store's read connection, keeping every statement run on it."""

    def __init__(self, conn, statements: list) -> None:
        self._conn = conn
        self._statements = statements

    def execute(self, sql: str, args=()):
        self._statements.append((sql, list(args)))
        return self._conn.execute(sql, args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


_FULL_SCAN = {
    "sqlite": re.compile(r"^SCAN (?!\(subquery|CONSTANT ROW)"),  # a table or a whole index
    "postgresql": re.compile(r"Seq Scan"),
}


@pytest.mark.parametrize("window", [None, (2, 1, 3)], ids=["in-order", "planned"])
def test_searches_read_through_indexes(experiment, monkeypatch, window):
    client, experiment_id = experiment
    store = client._store
    if window:
        store._WINDOW = window
    statements: list = []
    read = store._read

    @contextlib.contextmanager
    def recording():
        with read() as conn:
            yield _Recorder(conn, statements)

    monkeypatch.setattr(store, "_read", recording)
    two_clauses = "metrics.other < 30 AND params.p = '1'"
    first = client.search_runs(
        [experiment_id], two_clauses, max_results=3, order_by=["metrics.m DESC"]
    )
    client.search_runs(
        [experiment_id],
        two_clauses,
        max_results=3,
        order_by=["metrics.m DESC"],
        page_token=first.token,
    )
    page = client.search_runs([experiment_id], two_clauses, max_results=3)
    client.search_runs([experiment_id], two_clauses, max_results=3, page_token=page.token)
    client.search_runs([experiment_id], "params.q = '0'", max_results=3, order_by=["metrics.m"])
    client.count_matching_runs(experiment_id, two_clauses)
    client.get_metric_history(first[0].info.run_id, "m")
    searches = [(sql, args) for sql, args in statements if "FROM runs" in sql or "metrics" in sql]
    assert len(searches) >= 7
    monkeypatch.setattr(store, "_read", read)
    kind = "sqlite" if isinstance(store, SqliteStore) else "postgresql"
    with read() as conn:
        if kind == "postgresql":
            conn.execute("SET enable_seqscan = off")  # a table this small is read whole anyway
        for sql, args in searches:
            explain = "EXPLAIN" if kind == "postgresql" else "EXPLAIN QUERY PLAN"
            plan = [str(row[-1]) for row in conn.execute(f"{explain} {sql}", args).fetchall()]
            scans = [line for line in plan if _FULL_SCAN[kind].search(line.strip())]
            assert not scans, f"{sql}\n" + "\n".join(plan)
        if kind == "postgresql":
            conn.execute("RESET enable_seqscan")


def test_a_filtered_search_stays_within_sqlites_oldest_bound_value_limit(tmp_path):
    """SQLite before 3.32 allows 999 bound values a statement; the probe window is larger."""
    import sqlite3

    client = Client(f"sqlite:///{tmp_path / 'v.db'}")
    experiment_id = client.create_experiment("v")
    ids = {client.create_run(experiment_id).info.run_id for _ in range(1100)}
    client._store._conn().setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    found = client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=5)
    assert len(found) == 5 and {r.info.run_id for r in found} <= ids
