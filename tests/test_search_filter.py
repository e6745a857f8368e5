"""Search filter / order-by compilation, checked by running the SQL on a real schema."""

from __future__ import annotations

import math
import sqlite3

import pytest

from fittrace.exceptions import InvalidFilterError
from fittrace.store.schema import MIGRATIONS
from fittrace.store.search import compile_order_by, compile_registry_filter, compile_run_filter

NAN = math.nan
INF = math.inf

# name: (experiment, status, start, end, params, metrics, tags)
RUNS = {
    "alpha-run": (
        1,
        "FINISHED",
        1000,
        2000,
        {"alpha": "0.1", "model": "xgb"},
        {"rmse": 0.3, "acc": 0.9},
        {
            "model": "xgboost",
            "my key": "a b",
            "mlflow.runName": "alpha-run",
            "mlflow.user": "ann",
        },
    ),
    "beta-run": (
        1,
        "FAILED",
        2000,
        2500,
        {"alpha": "0.2"},
        {"rmse": 0.7, "acc": NAN},
        {"model": "lgbm"},
    ),
    "Gamma_lr": (
        1,
        "RUNNING",
        3000,
        None,
        {"alpha": "0.1", "note": "it's"},
        {"acc": 0.5},
        {"model": "XGBoost"},
    ),
    "delta*[x]": (2, "FINISHED", 500, 600, {}, {"rmse": INF}, {}),
}


@pytest.fixture(scope="module")
def db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    for migration in MIGRATIONS:
        if callable(migration):
            migration(conn, "rowid")
        else:
            conn.executescript(migration)
    conn.executemany(
        "INSERT INTO experiments (experiment_id, name, artifact_location) VALUES (?, ?, ?)",
        [(1, "exp-one", "/tmp/a1"), (2, "exp-two", "/tmp/a2")],
    )
    for name, (exp, status, start, end, params, metrics, tags) in RUNS.items():
        run_id = f"id-{name}"
        conn.execute(
            "INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time, end_time, "
            "artifact_uri) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, name, exp, "ann", status, start, end, f"/tmp/a{exp}/{run_id}"),
        )
        conn.executemany(
            "INSERT INTO params (run_uuid, key, value) VALUES (?, ?, ?)",
            [(run_id, k, v) for k, v in params.items()],
        )
        conn.executemany(
            "INSERT INTO latest_metrics (run_uuid, key, value, is_nan, timestamp, step) "
            "VALUES (?, ?, ?, ?, 0, 0)",
            [(run_id, k, v, int(math.isnan(v))) for k, v in metrics.items()],
        )
        conn.executemany(
            "INSERT INTO tags (run_uuid, key, value) VALUES (?, ?, ?)",
            [(run_id, k, v) for k, v in tags.items()],
        )
    conn.execute(
        "INSERT INTO inputs (run_uuid, name, digest, context) VALUES ('id-alpha-run', 'iris', 'd1', 'train')"
    )
    conn.executescript(
        """
        INSERT INTO registered_models (name, creation_time, last_updated_time) VALUES
            ('FraudModel', 1, 1), ('fraud-lite', 2, 2), ('churn', 3, 3);
        INSERT INTO registered_model_tags VALUES ('churn', 'team', 'growth');
        INSERT INTO model_versions (name, version, creation_time, last_updated_time, source, run_id)
        VALUES ('FraudModel', 1, 1, 1, 'runs:/r1/model', 'r1'),
               ('FraudModel', 2, 2, 2, 'runs:/r2/model', 'r2'),
               ('churn', 1, 3, 3, 'runs:/r3/model', 'r3');
        INSERT INTO model_version_tags VALUES ('FraudModel', 2, 'stage', 'prod');
        """
    )
    return conn


def search(db: sqlite3.Connection, filter_string: str | None, order_by=None) -> list[str]:
    where, params = compile_run_filter(filter_string)
    order, order_params = compile_order_by(order_by)
    assert where.count("?") == len(params)
    sql = f"SELECT r.name FROM runs r WHERE ({where}) {order}"
    return [row[0] for row in db.execute(sql, [*params, *order_params])]


def matches(db: sqlite3.Connection, filter_string: str | None) -> set[str]:
    return set(search(db, filter_string))


ALL = set(RUNS)


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, ALL),
        ("", ALL),
        ("   ", ALL),
        # metrics: numeric, NaN never matches a comparison, inf compares as a number
        ("metrics.rmse < 0.5", {"alpha-run"}),
        ("metrics.rmse >= 0.3", {"alpha-run", "beta-run", "delta*[x]"}),
        ("metrics.rmse = 0.7", {"beta-run"}),
        ("metrics.rmse > 1e300", {"delta*[x]"}),
        ("metrics.acc != 0.9", {"Gamma_lr"}),
        ("metrics.acc > -1", {"alpha-run", "Gamma_lr"}),
        ("metrics.acc <= .5", {"Gamma_lr"}),
        ("metrics.acc IS NULL", {"delta*[x]"}),
        ("metrics.acc IS NOT NULL", {"alpha-run", "beta-run", "Gamma_lr"}),
        # params: strings; != and NOT IN only match runs that have the param
        ("params.alpha = '0.1'", {"alpha-run", "Gamma_lr"}),
        ('params.alpha = "0.1"', {"alpha-run", "Gamma_lr"}),
        ("params.alpha = 0.1", {"alpha-run", "Gamma_lr"}),
        ("params.alpha != '0.1'", {"beta-run"}),
        ("params.alpha IN ('0.2', '0.3')", {"beta-run"}),
        ("params.alpha IN ('0.2',)", {"beta-run"}),
        ("params.alpha NOT IN ('0.1')", {"beta-run"}),
        ("params.alpha LIKE '0.%'", {"alpha-run", "beta-run", "Gamma_lr"}),
        ("params.alpha IS NULL", {"delta*[x]"}),
        ("param.model = 'xgb'", {"alpha-run"}),
        ("parameters.model = 'xgb'", {"alpha-run"}),
        ("params.note = 'it''s'", {"Gamma_lr"}),
        ('params.note = "it\'s"', {"Gamma_lr"}),
        # tags: LIKE is case-sensitive, ILIKE is not; quoted keys; mlflow.* system tags
        ("tags.model = 'xgboost'", {"alpha-run"}),
        ("tags.model LIKE 'xgb%'", {"alpha-run"}),
        ("tags.model ILIKE 'xgb%'", {"alpha-run", "Gamma_lr"}),
        ("tags.model LIKE '_gbm'", {"beta-run"}),
        ("tags.`my key` = 'a b'", {"alpha-run"}),
        ('tags."my key" = "a b"', {"alpha-run"}),
        ("tags.mlflow.runName = 'alpha-run'", {"alpha-run"}),
        ("tags.fittrace.user = 'ann'", {"alpha-run"}),
        ("tags.model IS NOT NULL", {"alpha-run", "beta-run", "Gamma_lr"}),
        ("tags.model IS NULL", {"delta*[x]"}),
        ("tags.model NOT IN ('lgbm', 'XGBoost')", {"alpha-run"}),
        # attributes, bare and prefixed
        ("run_name = 'beta-run'", {"beta-run"}),
        ("attributes.run_name LIKE '%run'", {"alpha-run", "beta-run"}),
        ("`Run name` = 'beta-run'", {"beta-run"}),
        ("run_name ILIKE 'gamma%'", {"Gamma_lr"}),
        ("run_name LIKE 'Gamma_lr'", {"Gamma_lr"}),
        ("run_name LIKE 'delta*%'", {"delta*[x]"}),  # '*' and '[' are literal, not glob syntax
        ("run_name LIKE 'd%[x]'", {"delta*[x]"}),
        ("run_name LIKE '%*'", set()),
        ("run_id = 'id-beta-run'", {"beta-run"}),
        ("attr.run_id IN ('id-beta-run', 'id-Gamma_lr')", {"beta-run", "Gamma_lr"}),
        ("status IN ('FINISHED', 'FAILED')", {"alpha-run", "beta-run", "delta*[x]"}),
        ("attributes.status != 'FAILED'", {"alpha-run", "Gamma_lr", "delta*[x]"}),
        ("run.status = 'RUNNING'", {"Gamma_lr"}),
        ("start_time >= 2000", {"beta-run", "Gamma_lr"}),
        ("created < 1000", {"delta*[x]"}),
        ("end_time IS NULL", {"Gamma_lr"}),
        ("end_time > 1000", {"alpha-run", "beta-run"}),
        ("experiment_id = '2'", {"delta*[x]"}),
        ("experiment_id = 2", {"delta*[x]"}),
        ("experiment_id IN ('1')", {"alpha-run", "beta-run", "Gamma_lr"}),
        ("experiment_id != 1", {"delta*[x]"}),
        ("user_id = 'ann'", ALL),
        ("lifecycle_stage = 'active'", ALL),
        ("artifact_uri LIKE '/tmp/a2/%'", {"delta*[x]"}),
        ("datasets.name = 'iris'", {"alpha-run"}),
        ("datasets.digest IN ('d1', 'd2') AND datasets.context = 'train'", {"alpha-run"}),
        # boolean structure: AND binds tighter than OR; keywords are case-insensitive
        ("metrics.rmse < 0.5 and params.alpha = '0.1'", {"alpha-run"}),
        ("params.alpha = '0.1' AND params.model = 'xgb'", {"alpha-run"}),
        (
            "params.alpha = '0.1' OR metrics.rmse > 0.5 AND status = 'FAILED'",
            {"alpha-run", "beta-run", "Gamma_lr"},
        ),
        ("(params.alpha = '0.1' OR metrics.rmse > 0.8) AND status = 'FAILED'", set()),
        ("(params.alpha = '0.2' OR metrics.rmse > 0.5) AND status = 'FAILED'", {"beta-run"}),
        (
            "((tags.model = 'lgbm')) or (run_name like 'delta%' And metrics.rmse > 1)",
            {"beta-run", "delta*[x]"},
        ),
        ("tags.model in ('lgbm') OR run_name ilike 'ALPHA%'", {"alpha-run", "beta-run"}),
        ("metrics.rmse<0.5", {"alpha-run"}),
        ("metrics.rmse == 0.3", {"alpha-run"}),
        ("metrics.rmse <> 0.3", {"beta-run", "delta*[x]"}),
    ],
)
def test_filter_matches(db, filter_string, expected):
    assert matches(db, filter_string) == expected


@pytest.mark.parametrize(
    "filter_string",
    [
        "params.alpha = 'x'' OR ''1''=''1'",
        "params.alpha = \"0.1' OR '1'='1\"",
        "tags.model = '%'",
        "tags.`model' OR 1=1 --` = 'xgboost'",
        "run_name = 'x''); DELETE FROM runs; --'",
        "run_name LIKE '\\'",
    ],
)
def test_injection_attempts_are_plain_data(db, filter_string):
    assert matches(db, filter_string) == set()
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == len(RUNS)


@pytest.mark.parametrize(
    "filter_string",
    [
        "params.a = 'x' OR 1=1; DROP TABLE runs --",
        "params.a = 'x' -- comment",
        "params.a = 'x' UNION SELECT 1",
        "1=1",
    ],
)
def test_injection_attempts_are_rejected(db, filter_string):
    with pytest.raises(InvalidFilterError):
        compile_run_filter(filter_string)
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == len(RUNS)


@pytest.mark.parametrize(
    ("filter_string", "fragments"),
    [
        (
            "metrics.rmse << 5",
            [
                "'metrics.rmse << 5'",
                "'<<' at position 13",
                "expected a comparison operator",
                "NOT IN",
            ],
        ),
        ("metrics.rmse < 5 and", ["unexpected end of filter at position 20", "metrics.<key>"]),
        ("metrics.rmse 5", ["unexpected token '5' at position 13", "comparison operator"]),
        (
            "metrics.rmse <",
            ["end of filter at position 14", "expected a quoted string or a number"],
        ),
        ("params.alpha = 'abc", ["unterminated quoted text starting at position 15"]),
        ("params.alpha > '1'", ["operator '>' at position 13", "params are strings", "LIKE"]),
        ("metrics.rmse LIKE '1%'", ["operator 'LIKE'", "metrics are numbers"]),
        (
            "metrics.rmse < '5'",
            ["'metrics.rmse' compares numbers", "'5' at position 15", "without quotes"],
        ),
        ("start_time > 'yesterday'", ["compares numbers", "'yesterday'"]),
        ("status < 'A'", ["operator '<'", "status is a string"]),
        ("colour = 'red'", ["unknown attribute 'colour' at position 0", "run_name", "status"]),
        (
            "metricz.rmse < 1",
            ["unknown entity type 'metricz' at position 0", "metrics, params, tags"],
        ),
        ("datasets.size = '1'", ["unknown dataset field 'size'", "name, digest, context"]),
        (
            "metrics.rmse < 1 metrics.mae < 2",
            ["unexpected token 'metrics.mae' at position 17", "AND, OR"],
        ),
        (
            "params.alpha IN ()",
            ["unexpected token ')' at position 17", "quoted string or a number"],
        ),
        ("params.alpha IN '0.1'", ["expected a parenthesized list"]),
        ("params.alpha NOT '0.1'", ["expected IN after NOT"]),
        ("params.alpha IS 'x'", ["expected NULL"]),
        ("(params.alpha = '0.1'", ["end of filter", "expected ')'"]),
        ("params.alpha = '0.1')", ["unexpected token ')' at position 20"]),
        ("tags. = 'x'", ["missing key after 'tags.'"]),
        ("tags.`` = 'x'", ["empty key"]),
        ("run_name LIKE 5", ["pattern for 'run_name'", "quoted string"]),
        ("= 'x'", ["unexpected token '=' at position 0", "metrics.<key>"]),
        ("params.a = 'x' ; ", ["unexpected character ';' at position 15"]),
    ],
)
def test_malformed_filter_messages(filter_string, fragments):
    with pytest.raises(InvalidFilterError) as info:
        compile_run_filter(filter_string)
    message = str(info.value)
    assert message.startswith("Invalid filter ")
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (None, ["Gamma_lr", "beta-run", "alpha-run", "delta*[x]"]),  # newest first
        ([], ["Gamma_lr", "beta-run", "alpha-run", "delta*[x]"]),
        (["metrics.rmse ASC"], ["alpha-run", "beta-run", "delta*[x]", "Gamma_lr"]),
        (["metrics.rmse DESC"], ["delta*[x]", "beta-run", "alpha-run", "Gamma_lr"]),
        # NaN and missing values sort last in both directions (ties: newest first)
        (["metrics.acc"], ["Gamma_lr", "alpha-run", "beta-run", "delta*[x]"]),
        (["metrics.acc desc"], ["alpha-run", "Gamma_lr", "beta-run", "delta*[x]"]),
        (["params.alpha DESC"], ["beta-run", "Gamma_lr", "alpha-run", "delta*[x]"]),
        (["params.alpha", "start_time ASC"], ["alpha-run", "Gamma_lr", "beta-run", "delta*[x]"]),
        (["attributes.start_time"], ["delta*[x]", "alpha-run", "beta-run", "Gamma_lr"]),
        (["run_name"], ["Gamma_lr", "alpha-run", "beta-run", "delta*[x]"]),
        (["attributes.end_time DESC"], ["beta-run", "alpha-run", "delta*[x]", "Gamma_lr"]),
        (["tags.mlflow.runName"], ["alpha-run", "Gamma_lr", "beta-run", "delta*[x]"]),
        (["tags.`my key` DESC"], ["alpha-run", "Gamma_lr", "beta-run", "delta*[x]"]),
    ],
)
def test_order_by(db, order_by, expected):
    assert search(db, None, order_by) == expected


def test_order_by_with_filter(db):
    assert search(db, "metrics.rmse > 0", ["metrics.rmse DESC"]) == [
        "delta*[x]",
        "beta-run",
        "alpha-run",
    ]


@pytest.mark.parametrize(
    ("order_by", "fragment"),
    [
        (["metrics.rmse UP"], "unexpected token 'UP' at position 13; expected ASC, DESC"),
        (["colour"], "unknown attribute 'colour'"),
        (["datasets.name"], "cannot order by 'datasets.name'"),
        (["metrics.rmse; DROP TABLE runs"], "unexpected character ';'"),
    ],
)
def test_bad_order_by(order_by, fragment):
    with pytest.raises(InvalidFilterError, match="Invalid order_by entry") as info:
        compile_order_by(order_by)
    assert fragment in str(info.value)


def registry(db, filter_string, kind):
    where, params = compile_registry_filter(filter_string, kind)
    table = "registered_models" if kind == "registered_model" else "model_versions"
    columns = "m.name" if kind == "registered_model" else "m.name || '/' || m.version"
    return {row[0] for row in db.execute(f"SELECT {columns} FROM {table} m WHERE {where}", params)}


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("", {"FraudModel", "fraud-lite", "churn"}),
        ("name = 'churn'", {"churn"}),
        ("name LIKE 'Fraud%'", {"FraudModel"}),
        ("name ILIKE 'fraud%'", {"FraudModel", "fraud-lite"}),
        ("name IN ('churn', 'nope')", {"churn"}),
        ("tags.team = 'growth'", {"churn"}),
        ("tags.team IS NULL", {"FraudModel", "fraud-lite"}),
    ],
)
def test_registered_model_filter(db, filter_string, expected):
    assert registry(db, filter_string, "registered_model") == expected


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("name = 'FraudModel'", {"FraudModel/1", "FraudModel/2"}),
        ("name = 'FraudModel' AND version = 2", {"FraudModel/2"}),
        ("version = '1'", {"FraudModel/1", "churn/1"}),
        ("version > 1", {"FraudModel/2"}),
        ("run_id = 'r3'", {"churn/1"}),
        ("run_id IN ('r1', 'r2')", {"FraudModel/1", "FraudModel/2"}),
        ("source_path = 'runs:/r2/model'", {"FraudModel/2"}),
        ("source LIKE 'runs:/r1/%'", {"FraudModel/1"}),
        ("tags.stage = 'prod'", {"FraudModel/2"}),
    ],
)
def test_model_version_filter(db, filter_string, expected):
    assert registry(db, filter_string, "model_version") == expected


@pytest.mark.parametrize(
    ("filter_string", "kind", "fragment"),
    [
        ("metrics.rmse < 1", "model_version", "metrics cannot be searched in model versions"),
        ("run_id = 'r1'", "registered_model", "unknown attribute 'run_id'"),
        ("name > 'a'", "registered_model", "operator '>'"),
        ("name = ", "model_version", "unexpected end of filter"),
    ],
)
def test_bad_registry_filter(filter_string, kind, fragment):
    with pytest.raises(InvalidFilterError) as info:
        compile_registry_filter(filter_string, kind)
    assert fragment in str(info.value)
