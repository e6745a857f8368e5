"""Searches that stay fast at 100,000 runs: page tokens that resume after the last run (old
offset tokens still work), the same answers whichever way the store finds them, and query
plans that never fall back to reading a whole table (checked on the plan, not on time)."""

from __future__ import annotations

import base64
import contextlib
import json
import math
import re
import threading

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


def expected_order(runs, order: str | None) -> list[str]:
    """Run ids in ``order`` (``"metrics.m DESC"``, ``"params.p ASC"``, None: newest first),
    runs without a value last, then newest first, then by id: sorted here, not by a store."""
    kind, key, direction = (
        (None, None, "DESC") if order is None else order.replace(".", " ").split()
    )

    def value(run):
        found = (run.data.metrics if kind == "metrics" else run.data.params).get(key)
        return None if found is None or found != found else found

    def position(run):
        found = None if kind is None else value(run)
        return (found is None, -run.info.start_time, run.info.run_id)

    ordered = sorted(runs, key=position)  # then by the value, stably
    with_value = [r for r in ordered if value(r) is not None] if kind else []
    with_value.sort(key=value, reverse=direction == "DESC")
    return [r.info.run_id for r in with_value + [r for r in ordered if r not in with_value]]


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
FILTERS = {  # each with what it means, in plain Python over a run
    "": lambda run: True,
    "params.q = '1'": lambda run: run.data.params["q"] == "1",
    "metrics.other < 30 AND params.p != '2'": lambda run: (
        run.data.metrics["other"] < 30 and run.data.params["p"] != "2"
    ),
}


def expected_runs(client: Client, experiment_id: str, filter_string: str, order_by) -> list[str]:
    """The ids ``search_runs`` must give: the experiment's runs (an unfiltered search lists
    them), each read on its own, filtered and sorted here."""
    listed = client.search_runs([experiment_id], max_results=1000)
    runs = [client.get_run(run.info.run_id) for run in listed]
    matching = [run for run in runs if FILTERS[filter_string](run)]
    return expected_order(matching, order_by[0] if order_by else None)


@pytest.mark.parametrize("window", [None, (2, 1, 3)], ids=["default", "tiny-window"])
@pytest.mark.parametrize("filter_string", FILTERS)
def test_pages_walk_the_whole_ordered_result(experiment, filter_string, window):
    client, experiment_id = experiment
    if window:  # the store gives up probing runs in order at once and plans every search
        client._store._WINDOW = window
    for order_by in ORDERS:
        expected = expected_runs(client, experiment_id, filter_string, order_by)
        everything = client.search_runs(
            [experiment_id], filter_string, max_results=1000, order_by=order_by
        )
        assert [r.info.run_id for r in everything] == expected, order_by
        for size in (1, 4, 7):
            pages = all_pages(client, experiment_id, filter_string, order_by, size)
            assert pages == expected, (order_by, size)


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


@pytest.mark.parametrize("outside", [0, 50], ids=["few-runs-elsewhere", "most-runs-elsewhere"])
@pytest.mark.parametrize("filter_string", FILTERS)
def test_a_page_by_offset_alone_is_that_slice_of_the_result(experiment, filter_string, outside):
    """A page named by nothing but its offset (a typed URL) is that slice of the whole result,
    also past the end, with runs of another experiment and a deleted run holding the metric
    (ties included) that a walk along the metric's values must skip."""
    client, experiment_id = experiment
    other = client.create_experiment("elsewhere")
    for i in range(outside):
        run_id = client.create_run(other, start_time=1_000 + i // 3).info.run_id
        client.log_metric(run_id, "m", float(i % 5))
    deleted = client.create_run(experiment_id, start_time=2_000).info.run_id
    client.log_metric(deleted, "m", 2.0)
    client.delete_run(deleted)
    for order_by in ORDERS:
        expected = expected_runs(client, experiment_id, filter_string, order_by)
        for offset in (1, 3, 10, 17, len(expected) - 2, len(expected), len(expected) + 5):
            page = client.search_runs(
                [experiment_id],
                filter_string,
                max_results=4,
                order_by=order_by,
                page_token=page_token_at(offset),
            )
            assert [r.info.run_id for r in page] == expected[offset : offset + 4], (
                order_by,
                offset,
            )


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


@pytest.mark.parametrize("order_by", ORDERS)
def test_a_filtered_page_by_offset_alone_counts_the_runs_matching(
    experiment, monkeypatch, order_by
):
    """The runs page's total beside a typed ``?offset=`` page: the search reads every run the
    filter matches anyway, so the count comes out of it (SQLite remembers it: no second
    count), and it is right."""
    client, experiment_id = experiment
    filter_string = "metrics.other < 30 AND params.p != '2'"
    expected = expected_runs(client, experiment_id, filter_string, order_by)
    statements = recorded_statements(monkeypatch, client._store)
    page = client.search_runs(
        [experiment_id],
        filter_string,
        max_results=4,
        order_by=order_by,
        page_token=page_token_at(10),
    )
    searched = len(statements)
    assert [r.info.run_id for r in page] == expected[10:14]
    assert client.count_matching_runs(experiment_id, filter_string) == len(expected)
    counts = [sql for sql, _ in statements[searched:] if "COUNT(*)" in sql]
    assert len(counts) == (0 if isinstance(client._store, SqliteStore) else 1)


def recorded_statements(monkeypatch, store) -> list:
    """The statements ``store`` runs on its read connections from now on (until
    ``monkeypatch`` undoes it), with their arguments."""
    statements: list = []
    read = store._read

    @contextlib.contextmanager
    def recording():
        with read() as conn:
            yield _Recorder(conn, statements)

    monkeypatch.setattr(store, "_read", recording)
    return statements


class _Recorder:
    """The store's read connection, keeping every statement run on it."""

    def __init__(self, conn, statements: list) -> None:
        self._conn = conn
        self._statements = statements

    def execute(self, sql: str, args=(), **options):
        self._statements.append((sql, list(args)))
        return self._conn.execute(sql, args, **options)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


_FULL_SCAN = {
    "sqlite": re.compile(r"^SCAN (?!\(subquery|CONSTANT ROW)"),  # a table or a whole index
    "postgresql": re.compile(r"Seq Scan"),
}


# The one whole read a walk along a metric's index may make: one of the runs' own indexes of
# (experiment, stage, start time, id), when it lists the few runs outside the search (and
# counts the runs).
_RUNS_INDEX_SCAN = re.compile(r"^SCAN \w+ USING COVERING INDEX runs_(experiment|run_scope)")


@pytest.mark.parametrize("window", [None, (2, 1, 3)], ids=["in-order", "planned"])
def test_searches_read_through_indexes(experiment, monkeypatch, window):
    client, experiment_id = experiment
    store = client._store
    if window:
        store._WINDOW = window
    read = store._read
    statements = recorded_statements(monkeypatch, store)
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
    walks = len(statements)  # pages by offset alone, ordered by a metric: a walk along its index
    for filter_string in ("", two_clauses):
        client.search_runs(
            [experiment_id],
            filter_string,
            max_results=3,
            order_by=["metrics.m DESC"],
            page_token=page_token_at(20),
        )
    for order_by in (None, ["metrics.m DESC"]):  # filters not counted yet: counted on the way
        client.search_runs(
            [experiment_id],
            f"metrics.other < {25 if order_by else 35} AND params.p = '1'",
            max_results=3,
            order_by=order_by,
            page_token=page_token_at(2),
        )
    searches = [
        (sql, args, i >= walks)
        for i, (sql, args) in enumerate(statements)
        if "FROM runs" in sql or "metrics" in sql
    ]
    assert len(searches) >= 11
    monkeypatch.setattr(store, "_read", read)
    kind = "sqlite" if isinstance(store, SqliteStore) else "postgresql"
    with read() as conn:
        if kind == "postgresql":
            conn.execute("SET enable_seqscan = off")  # a table this small is read whole anyway
        for sql, args, walk in searches:
            explain = "EXPLAIN" if kind == "postgresql" else "EXPLAIN QUERY PLAN"
            plan = [str(row[-1]) for row in conn.execute(f"{explain} {sql}", args).fetchall()]
            scans = [
                line
                for line in plan
                if _FULL_SCAN[kind].search(line.strip())
                and not (walk and _RUNS_INDEX_SCAN.search(line.strip()))
            ]
            assert not scans, f"{sql}\n" + "\n".join(plan)
        if kind == "postgresql":
            conn.execute("RESET enable_seqscan")


@pytest.mark.skipif(
    not hasattr(__import__("sqlite3").Connection, "setlimit"), reason="Connection.setlimit: 3.11+"
)
def test_a_filtered_search_stays_within_sqlites_oldest_bound_value_limit(tmp_path):
    """SQLite before 3.32 allows 999 bound values a statement; the probe window is larger."""
    import sqlite3

    client = Client(f"sqlite:///{tmp_path / 'v.db'}")
    experiment_id = client.create_experiment("v")
    ids = {client.create_run(experiment_id).info.run_id for _ in range(1100)}
    client._store._conn().setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    found = client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=5)
    assert len(found) == 5 and {r.info.run_id for r in found} <= ids


def test_a_count_follows_writes_from_this_connection_and_others(experiment):
    """Counts are remembered between pages (SQLite), never past a write: one made on the
    counting thread's connection, or on another thread's (as another process's would be)."""
    client, experiment_id = experiment
    filter_string = "params.q = '1'"
    assert client.count_matching_runs(experiment_id, filter_string) == 20
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "q", "1")
    assert client.count_matching_runs(experiment_id, filter_string) == 21
    writer = threading.Thread(target=client.delete_run, args=(run_id,))
    writer.start()
    writer.join()
    assert client.count_matching_runs(experiment_id, filter_string) == 20
    assert client.count_matching_runs(experiment_id, "params.q = '0'") == 20
