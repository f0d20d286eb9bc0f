"""On-the-fly scoring while the lake cannot be read, over a copy of the session graph's snapshot
whose lake is a symbolic link the tests remove and restore (or point at a broken file): a 503
that is never cached, for one address, a batch, a screening and the page; and no answer, of any
failure, names a server path or setting."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from fastapi.testclient import TestClient

from eth_assets.chain.schemas import TRANSACTIONS
from eth_assets.lake.compaction import DAY_PREFIX, PART_FILE
from eth_assets.scores.snapshot import POINTER
from eth_assets.serve import on_the_fly
from eth_assets.serve.app import ServeSettings, create_app
from eth_assets.serve.snapshot_loader import load_snapshot
from eth_assets_tests.fixtures import Graph

NOBODY = "0x" + "12" * 20  # never on the simulated chain
# What no answer may hold: the places and settings of the server.
SERVER_DETAILS = ("/tmp", "/work", "ETH_ASSETS_", "address_scores/", "published/", "lake/")


def _published(graph: Graph) -> Path:
    return graph.folder / "published" / "address_scores"


@pytest.fixture(scope="module")
def with_history(graph: Graph) -> list[str]:
    """Held-out addresses (outside the snapshot) the lake holds a history of."""
    scorer = load_snapshot(_published(graph)).on_the_fly
    assert scorer is not None
    rows = scorer.score(graph.held_out)
    return [a for a in graph.held_out if rows[a] is not None][:3]


class Served:
    """A copy of the graph's published folder whose lake is the link `lake`."""

    def __init__(self, graph: Graph, folder: Path) -> None:
        self.published = folder / "published"
        shutil.copytree(_published(graph), self.published)
        self.lake = folder / "lake"
        self.real_lake = Path(
            json.loads((_published(graph) / POINTER).read_text())["on_the_fly"]["lake"]
        )
        self.lake.symlink_to(self.real_lake, target_is_directory=True)
        pointer = json.loads((self.published / POINTER).read_text())
        pointer["on_the_fly"]["lake"] = str(self.lake)
        (self.published / POINTER).write_text(json.dumps(pointer))
        self.known = pointer  # the manifest
        settings = ServeSettings(published=self.published, reports=folder / "reports")
        self.client = TestClient(create_app(settings), raise_server_exceptions=False)

    def cut(self, broken: Path | None = None) -> None:
        """The lake unreadable: gone, or (`broken`) a folder whose one day file is not Parquet."""
        self.lake.unlink(missing_ok=True)
        if broken is not None:
            day = broken / TRANSACTIONS.name / f"{DAY_PREFIX}2021-01-05"
            day.mkdir(parents=True)
            (day / PART_FILE).write_bytes(b"not a parquet file")
            self.lake.symlink_to(broken, target_is_directory=True)

    def restore(self) -> None:
        self.lake.unlink(missing_ok=True)
        self.lake.symlink_to(self.real_lake, target_is_directory=True)


@pytest.fixture
def served(graph: Graph, tmp_path: Path) -> Served:
    return Served(graph, tmp_path)


def _known(served: Served) -> str:
    frame = pl.read_parquet(served.published / served.known["file"])
    return frame.filter(pl.col("has_activity"))["address"][0]


def test_an_unreadable_lake_is_a_503_never_cached(served: Served, with_history: list[str]) -> None:
    """With the lake gone, an address outside the snapshot is 503 with Retry-After, not 'no
    history'; in a batch and a screening only its items are 503; once the lake is back the same
    addresses are scored (or, without history, 404)."""
    held, known = with_history[0], _known(served)
    client = served.client
    assert client.get("/healthz").status_code == 200  # the snapshot loaded with its lake
    served.cut()
    for address in (held, NOBODY):
        response = client.get(f"/api/v1/addresses/{address}")
        assert response.status_code == 503, response.text
        assert int(response.headers["retry-after"]) > 0
        assert "try again" in response.json()["error"].lower()
    page = client.get("/", params={"address": held})
    assert page.status_code == 503 and "cannot be read just now" in page.text
    batch = client.post("/api/v1/addresses:batch", json={"addresses": [known, held, NOBODY]})
    assert batch.status_code == 200 and "retry-after" in batch.headers
    assert [r["status"] for r in batch.json()["results"]] == [200, 503, 503]
    rows = client.post("/api/v1/screen", content=f"{known}\n{held}\n{NOBODY}\n").json()["rows"]
    assert [r["status"] for r in rows] == [200, 503, 503]
    assert rows[1]["error"] and rows[1]["band"] is None
    served.restore()
    answer = client.get(f"/api/v1/addresses/{held}")
    assert answer.status_code == 200 and answer.json()["scored"] == "on the fly"
    assert answer.json()["exposure"] is not None
    nobody = client.get(f"/api/v1/addresses/{NOBODY}")
    assert nobody.status_code == 404 and "not a clean bill" in nobody.json()["error"]


def test_a_lake_file_that_cannot_be_read_is_a_503(
    served: Served, with_history: list[str], tmp_path: Path
) -> None:
    served.cut(broken=tmp_path / "broken")
    response = served.client.get(f"/api/v1/addresses/{with_history[1]}")
    assert response.status_code == 503
    served.restore()
    assert served.client.get(f"/api/v1/addresses/{with_history[1]}").status_code == 200


def test_an_on_the_fly_context_that_cannot_be_read_is_a_503(
    served: Served, with_history: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The score is read but the lake fails for its exposure and activity: 503, not a 200 that
    silently leaves them out; the next request, with the lake readable, gets them."""
    held = with_history[2]

    def unreadable(*args: object, **kwargs: object) -> object:
        raise duckdb.IOException("IO Error: could not read the day file")

    with monkeypatch.context() as patched:
        patched.setattr(on_the_fly, "exposure_of_addresses", unreadable)
        response = served.client.get(f"/api/v1/addresses/{held}")
        assert response.status_code == 503
        batch = served.client.post("/api/v1/addresses:batch", json={"addresses": [held]})
        assert [r["status"] for r in batch.json()["results"]] == [503]
    answer = served.client.get(f"/api/v1/addresses/{held}").json()
    assert answer["scored"] == "on the fly" and answer["exposure"] is not None


def _responses(client: TestClient, addresses: list[str]) -> list[tuple[str, str]]:
    """Every answer a client gets for `addresses`: the API, a batch, a screening, the page and
    /healthz (body and headers)."""
    calls = [("GET", f"/api/v1/addresses/{a}", None) for a in addresses]
    calls += [("GET", f"/?address={a}", None) for a in addresses]
    calls += [("POST", "/api/v1/addresses:batch", {"addresses": addresses})]
    calls += [("GET", "/healthz", None)]
    found = []
    for method, url, body in calls:
        response = client.request(method, url, json=body)
        found.append((f"{method} {url} {response.status_code}", response.text))
        found.append((f"{method} {url} headers", json.dumps(dict(response.headers))))
    screened = client.post("/api/v1/screen?format=csv", content="\n".join(addresses))
    found.append(("screen", screened.text))
    return found


def test_no_failure_answer_names_a_server_path_or_setting(
    graph: Graph, served: Served, with_history: list[str], tmp_path: Path
) -> None:
    """The lake gone, a broken lake file, a snapshot file for on-the-fly scoring missing, and a
    store that does not allow it: no answer names a path, the lake or a setting."""
    addresses = [with_history[0], NOBODY]
    answers = []
    served.cut()
    answers += _responses(served.client, addresses)
    served.cut(broken=tmp_path / "broken")
    answers += _responses(served.client, addresses)
    served.restore()
    # a snapshot file the scorer needs is missing
    missing = Served(graph, tmp_path / "missing")
    pointer = json.loads((missing.published / POINTER).read_text())
    (missing.published / pointer["attachments"]["populations.parquet"]).unlink()
    answers += _responses(missing.client, addresses)
    # a Parquet store of chosen accounts' histories, declared with its folder
    partial = Served(graph, tmp_path / "partial")
    pointer = json.loads((partial.published / POINTER).read_text())
    folder = str(tmp_path / "raw_txns")
    pointer["chain_source"] = f"parquet:{folder}"
    pointer["on_the_fly"].update(
        allowed=False,
        why_not=f"the store's source (parquet:{folder}) holds whole histories only for the "
        "universe's addresses (set ETH_ASSETS_PARQUET_COMPLETE_HISTORIES=true)",
    )
    (partial.published / POINTER).write_text(json.dumps(pointer))
    answers += _responses(partial.client, [*addresses, _known(partial)])
    leaks = [
        (where, detail)
        for where, text in answers
        for detail in (*SERVER_DETAILS, str(tmp_path), str(graph.folder))
        if detail in text
    ]
    assert leaks == []
