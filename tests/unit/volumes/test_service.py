"""The volume service without a kernel: metadata, names, usage, prune, container hooks."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from berth.engine.filters import Filters
from berth.engine.volumes.mountspec import ANONYMOUS_LABEL
from berth.engine.volumes.service import VolumeService
from berth.engine.volumes.store import VolumeStore, check_name
from berth.errors import Conflict, InvalidArgument, NotFound
from berth.store.db import Database


class Row:
    def __init__(self, cid: str, config: dict[str, Any], host_config: dict[str, Any]) -> None:
        self.id = cid
        self.name = cid
        self.config = config
        self.host_config = host_config
        self.mounts: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {"version": 1}


class FakeContainers:
    """What the volume service reads of the container service."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.rows: dict[str, Row] = {}

    def find(self, ref: str) -> Row:
        if ref in self.rows:
            return self.rows[ref]
        raise NotFound(f"No such container: {ref}")


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def publish(self, kind: str, action: str, ident: str, attrs: dict[str, str]) -> None:
        self.seen.append((kind, action, ident))


@pytest.fixture
def svc(tmp_path: Path) -> tuple[VolumeService, FakeContainers, Events]:
    db = Database(str(tmp_path / "berth.db"))
    events = Events()
    vs = VolumeService(str(tmp_path / "root"), str(tmp_path / "run"), db, events=events)
    containers = FakeContainers()
    vs.attach(containers)
    return vs, containers, events


def create(vs: VolumeService, containers: FakeContainers, cid: str, **hc: Any) -> Row:
    config = {"Volumes": hc.pop("Volumes")} if "Volumes" in hc else {}
    row = Row(cid, config, hc)
    with containers.lock:
        row.mounts = vs.prepare(row, None)
        containers.rows[cid] = row
    return row


def test_names() -> None:
    check_name("ab")
    check_name("a_b.c-d9")
    with pytest.raises(InvalidArgument, match="volume name is too short"):
        check_name("a")
    with pytest.raises(InvalidArgument, match='"a b" includes invalid characters'):
        check_name("a b")
    with pytest.raises(InvalidArgument, match="includes invalid characters"):
        check_name("_ab")


def test_create_inspect_is_idempotent(svc: Any) -> None:
    vs, _, events = svc
    doc = vs.create({"Name": "v1", "Labels": {"a": "b"}})
    assert doc["Name"] == "v1" and doc["Driver"] == "local" and doc["Scope"] == "local"
    assert doc["Labels"] == {"a": "b"} and doc["Options"] is None
    assert doc["Mountpoint"].endswith("/volumes/v1/_data") and os.path.isdir(doc["Mountpoint"])
    assert doc["CreatedAt"].endswith("Z") and len(doc["CreatedAt"]) == 20
    assert vs.create({"Name": "v1"}) == doc  # docker volume create is idempotent
    assert vs.inspect("v1") == doc
    assert events.seen == [("volume", "create", "v1")]
    with pytest.raises(NotFound, match="get nope: no such volume"):
        vs.inspect("nope")
    with pytest.raises(InvalidArgument, match='invalid option key: "bogus"'):
        vs.create({"Name": "v2", "DriverOpts": {"bogus": "1"}})
    with pytest.raises(NotFound, match="plugin not found"):
        vs.create({"Name": "v3", "Driver": "nfs-plugin"})
    unnamed = vs.create({})
    assert len(unnamed["Name"]) == 64 and unnamed["Labels"] is None


def test_list_filters(svc: Any) -> None:
    vs, containers, _ = svc
    vs.create({"Name": "alpha", "Labels": {"tier": "db"}})
    vs.create({"Name": "beta"})
    create(vs, containers, "c1", Binds=["beta:/b"])

    def names(**f: list[str]) -> list[str]:
        return [v["Name"] for v in vs.list_volumes(Filters(f))["Volumes"]]

    assert names() == ["alpha", "beta"]
    assert names(dangling=["true"]) == ["alpha"]
    assert names(dangling=["0"]) == ["beta"]
    assert names(label=["tier"]) == ["alpha"]
    assert names(label=["tier=web"]) == []
    assert names(name=["alp"]) == ["alpha"]
    assert names(name=["^b.t"]) == ["beta"]
    assert names(driver=["local"]) == ["alpha", "beta"]
    with pytest.raises(InvalidArgument, match="invalid filter 'color'"):
        names(color=["red"])
    assert vs.list_volumes(Filters())["Warnings"] == []


def test_remove_in_use_and_force(svc: Any) -> None:
    vs, containers, events = svc
    row = create(vs, containers, "c1", Binds=["data:/data"])
    assert row.mounts[0]["Name"] == "data" and row.mounts[0]["Mode"] == "z"
    with pytest.raises(Conflict, match=r"remove data: volume is in use - \[c1\]"):
        vs.remove("data")
    with pytest.raises(Conflict):
        vs.remove("data", force=True)  # force does not override "in use", as in Docker
    with pytest.raises(NotFound, match="get nope: no such volume"):
        vs.remove("nope")
    vs.remove("nope", force=True)
    del containers.rows["c1"]
    vs.remove("data")
    assert not os.path.exists(os.path.join(vs.store.dir, "data"))
    assert ("volume", "destroy", "data") in events.seen


def test_anonymous_volumes_rm_v_and_prune(svc: Any) -> None:
    vs, containers, _ = svc
    row = create(vs, containers, "c1", Volumes={"/img": {}}, Binds=["keep:/keep", "/data2"])
    anon = sorted(m["Name"] for m in row.mounts if m["Name"] != "keep" and m["Type"] == "volume")
    assert len(anon) == 2 and all(len(n) == 64 for n in anon)
    for n in anon:
        assert vs.store.find(n).labels == {ANONYMOUS_LABEL: ""}
    other = create(vs, containers, "c2", VolumesFrom=["c1"])
    assert {m["Name"] for m in other.mounts if m["Type"] == "volume"} == {"keep", *anon}
    # rm -v of c1 while c2 still uses them: nothing is removed
    vs.release(row, remove_anonymous=True)
    del containers.rows["c1"]
    assert all(vs.store.get(n) for n in anon)
    vs.release(other, remove_anonymous=False)
    del containers.rows["c2"]
    vs.create({"Name": "plain"})
    report = vs.prune(Filters())
    assert sorted(report["VolumesDeleted"]) == anon  # anonymous ones only (API >= 1.42)
    assert {v.name for v in vs.store.all()} == {"keep", "plain"}
    Path(vs.store.data_dir("keep"), "f").write_text("12345")
    report = vs.prune(Filters({"all": ["true"], "label!": ["x"]}))
    assert sorted(report["VolumesDeleted"]) == ["keep", "plain"]
    assert report["SpaceReclaimed"] == 5


def test_rm_v_removes_unshared_anonymous_volumes(svc: Any) -> None:
    vs, containers, _ = svc
    row = create(vs, containers, "c1", Binds=["/anon", "named:/n"])
    anon = next(m["Name"] for m in row.mounts if m["Destination"] == "/anon")
    vs.release(row, remove_anonymous=True)
    assert vs.store.get(anon) is None and vs.store.get("named") is not None


def test_prepare_failure_removes_what_it_made(svc: Any, tmp_path: Path) -> None:
    vs, containers, _ = svc
    with pytest.raises(InvalidArgument, match="bind source path does not exist"):
        create(
            vs,
            containers,
            "c1",
            Binds=["fresh:/f"],
            Mounts=[{"Type": "bind", "Source": str(tmp_path / "missing"), "Target": "/m"}],
        )
    assert vs.store.get("fresh") is None
    assert "c1" not in containers.rows


def test_oci_mounts_make_host_dirs_of_binds(svc: Any, tmp_path: Path) -> None:
    vs, containers, events = svc
    host = tmp_path / "made-at-start"
    row = create(vs, containers, "c1", Binds=[f"{host}:/h:ro", "vv:/v"], Tmpfs={"/t": ""})
    assert not host.exists()
    mounts = vs.oci_mounts(row)
    assert host.is_dir()
    assert mounts == [
        {
            "destination": "/h",
            "type": "bind",
            "source": str(host),
            "options": ["rbind", "ro", "rprivate"],
        },
        {
            "destination": "/v",
            "type": "bind",
            "source": vs.store.data_dir("vv"),
            "options": ["rbind"],
        },
    ]
    assert ("volume", "mount", "vv") in events.seen


def test_store_sweeps_directories_without_rows(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "berth.db"))
    store = VolumeStore(str(tmp_path), db)
    store.add("kept")
    os.makedirs(os.path.join(store.dir, "orphan", "_data"))
    assert store.sweep() == ["orphan"]
    stale = os.path.join(store.dir, "again", "_data")
    os.makedirs(stale)
    Path(stale, "old").write_text("x")
    vol = store.add("again")  # a crash leftover under the name is cleared first
    assert os.listdir(vol.path) == []
    assert [v.name for v in store.all()] == ["again", "kept"]
