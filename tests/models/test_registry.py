"""The model registry through the Client: models, numbered versions, tags, aliases, search."""

from __future__ import annotations

import multiprocessing

import pytest

import fittrace
from fittrace.exceptions import (
    InvalidParameterError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
)


@pytest.fixture
def client():
    return fittrace.MlflowClient()


def test_create_get_update_registered_model(client):
    created = client.create_registered_model(
        "churn", tags={"team": "growth", "n": 1}, description="first"
    )
    assert created.name == "churn" and created.tags == {"team": "growth", "n": "1"}
    assert created.description == "first" and created.latest_versions == []
    with pytest.raises(ResourceAlreadyExistsError, match="'churn' already exists"):
        client.create_registered_model("churn")
    updated = client.update_registered_model("churn", description="second")
    assert updated.description == "second"
    assert updated.last_updated_timestamp >= created.last_updated_timestamp
    client.set_registered_model_tag("churn", "stage", "beta")
    client.delete_registered_model_tag("churn", "team")
    assert client.get_registered_model("churn").tags == {"n": "1", "stage": "beta"}
    with pytest.raises(ResourceNotFoundError, match="no tag 'team'"):
        client.delete_registered_model_tag("churn", "team")


def test_versions_are_numbered_and_never_reused(client):
    client.create_registered_model("m")
    versions = [
        client.create_model_version("m", f"/models/{i}", run_id=f"run{i}").version for i in range(3)
    ]
    assert versions == [1, 2, 3]
    client.delete_model_version("m", 3)
    with pytest.raises(ResourceNotFoundError, match=r"no version 3 \(versions: 1, 2\)"):
        client.get_model_version("m", 3)
    assert client.create_model_version("m", "/models/again").version == 4
    assert [v.version for v in client.search_model_versions("name = 'm'")] == [4, 2, 1]
    assert client.get_latest_versions("m")[0].version == 4
    assert client.get_registered_model("m").latest_versions[0].source == "/models/again"


def test_version_fields_tags_and_description(client):
    client.create_registered_model("m")
    version = client.create_model_version("m", "/x", run_id="abc", tags={"k": "v"}, description="d")
    assert (version.source, version.run_id, version.tags, version.description, version.status) == (
        "/x",
        "abc",
        {"k": "v"},
        "d",
        "READY",
    )
    client.set_model_version_tag("m", "1", "validated", True)
    client.delete_model_version_tag("m", 1, "k")
    assert client.get_model_version("m", 1).tags == {"validated": "True"}
    assert client.update_model_version("m", 1, description="better").description == "better"
    with pytest.raises(InvalidParameterError, match="positive integer"):
        client.get_model_version("m", "one")
    with pytest.raises(ResourceNotFoundError, match="No registered model named 'ghost'"):
        client.create_model_version("ghost", "/x")


def test_aliases_and_rolling_back(client):
    client.create_registered_model("m")
    for i in range(3):
        client.create_model_version("m", f"/v{i + 1}")
    client.set_registered_model_alias("m", "champion", 3)
    assert client.get_model_version_by_alias("m", "champion").source == "/v3"
    client.set_registered_model_alias("m", "champion", "2")  # roll back
    assert client.get_model_version_by_alias("m", "champion").version == 2
    assert client.get_registered_model("m").aliases == {"champion": 2}
    assert client.get_model_version("m", 2).aliases == ["champion"]
    client.delete_model_version("m", 2)
    with pytest.raises(ResourceNotFoundError, match="no alias 'champion'"):
        client.get_model_version_by_alias("m", "champion")
    client.set_registered_model_alias("m", "challenger", 1)
    client.delete_registered_model_alias("m", "challenger")
    assert client.get_registered_model("m").aliases == {}
    for bad in ("latest", "v2", "has space", ""):
        with pytest.raises(InvalidParameterError, match="Invalid alias"):
            client.set_registered_model_alias("m", bad, 1)
    with pytest.raises(ResourceNotFoundError, match="no version 9"):
        client.set_registered_model_alias("m", "x", 9)


def test_search(client):
    client.create_registered_model("alpha-model", tags={"team": "a"})
    client.create_registered_model("beta-model", tags={"team": "b"})
    client.create_registered_model("gamma")
    client.create_model_version("alpha-model", "/a1", run_id="r1")
    client.create_model_version("beta-model", "/b1", run_id="r2")
    client.create_model_version("beta-model", "/b2", run_id="r1")
    assert [m.name for m in client.search_registered_models()] == [
        "alpha-model",
        "beta-model",
        "gamma",
    ]
    assert [m.name for m in client.search_registered_models("name LIKE '%-model'")] == [
        "alpha-model",
        "beta-model",
    ]
    assert [m.name for m in client.search_registered_models("tags.team = 'b'")] == ["beta-model"]
    assert [
        m.name for m in client.search_registered_models(order_by=["name DESC"], max_results=2)
    ] == [
        "gamma",
        "beta-model",
    ]
    found = client.search_model_versions("run_id = 'r1'")
    assert [(v.name, v.version) for v in found] == [("alpha-model", 1), ("beta-model", 2)]
    assert [
        v.version
        for v in client.search_model_versions(
            "name = 'beta-model'", order_by=["version_number ASC"]
        )
    ] == [1, 2]
    with pytest.raises(InvalidParameterError, match="order_by"):
        client.search_registered_models(order_by=["size DESC"])


def test_delete_registered_model_removes_everything(client):
    client.create_registered_model("m", tags={"a": "b"})
    client.create_model_version("m", "/x", tags={"k": "v"})
    client.set_registered_model_alias("m", "champion", 1)
    client.delete_registered_model("m")
    with pytest.raises(ResourceNotFoundError):
        client.get_registered_model("m")
    client.create_registered_model("m")
    assert client.create_model_version("m", "/y").version == 1
    assert client.get_registered_model("m").tags == {}


def test_bad_names(client):
    for bad in ("", "  ", None, "a/b"):
        with pytest.raises(InvalidParameterError):
            client.create_registered_model(bad)


def _register_many(uri: str, count: int, queue) -> None:
    client = fittrace.MlflowClient(uri)
    queue.put([client.create_model_version("shared", f"/proc/{i}").version for i in range(count)])


def test_concurrent_registration_from_two_processes(client, tracking_uri):
    client.create_registered_model("shared")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_register_many, args=(tracking_uri, 10, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    numbers = sorted(int(v) for result in results for v in result)
    assert numbers == list(range(1, 21))
    stored = client.search_model_versions("name = 'shared'")
    assert sorted(int(v.version) for v in stored) == list(range(1, 21))
