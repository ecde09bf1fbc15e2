"""Mount planning: Docker's -v / --mount / VOLUME / --volumes-from rules, as data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.engine.volumes import mountspec
from berth.engine.volumes.mountspec import MountPoint, parse_bind, parse_mount, plan
from berth.errors import InvalidArgument, NotFound


def names() -> object:
    counter = iter(range(1000))
    return lambda: f"anon{next(counter)}"


def test_bind_of_a_host_path() -> None:
    mp = parse_bind("/srv/data:/data:ro")
    assert (mp.type, mp.source, mp.destination, mp.rw, mp.mode) == (
        "bind",
        "/srv/data",
        "/data",
        False,
        "ro",
    )
    assert mp.propagation == "rprivate" and mp.create_source
    assert mountspec.docker_mount(mp) == {
        "Type": "bind",
        "Source": "/srv/data",
        "Destination": "/data",
        "Mode": "ro",
        "RW": False,
        "Propagation": "rprivate",
    }


def test_named_volume_gets_mode_z_and_copies() -> None:
    mp = parse_bind("cache:/var/cache")
    assert (mp.type, mp.name, mp.mode, mp.rw, mp.copy_data, mp.named) == (
        "volume",
        "cache",
        "z",
        True,
        True,
        True,
    )
    nocopy = parse_bind("v4:/v4:ro,nocopy")
    assert (nocopy.mode, nocopy.rw, nocopy.copy_data) == ("ro,nocopy", False, False)
    doc = mountspec.docker_mount(nocopy.replace(source="/vols/v4/_data"))
    assert doc == {
        "Type": "volume",
        "Name": "v4",
        "Source": "/vols/v4/_data",
        "Destination": "/v4",
        "Driver": "local",
        "Mode": "ro,nocopy",
        "RW": False,
        "Propagation": "",
    }


def test_propagation_and_paths_are_cleaned() -> None:
    mp = parse_bind("/a/./b/:/x//y/:rshared")
    assert (mp.source, mp.destination, mp.propagation) == ("/a/b", "/x/y", "rshared")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("/a:/b:/c:/d", "invalid volume specification: '/a:/b:/c:/d'"),
        (":/x", "invalid volume specification: ':/x'"),
        ("/data:rw", "invalid volume specification: '/data:rw'"),
        ("/a:/b:xyz", "invalid mode: xyz"),
        ("/a:/b:ro,rw", "invalid mode: ro,rw"),
        ("/a:relative", "mount path must be absolute"),
        ("/a:/", "destination can't be '/'"),
        ("name:/x:ro,z,Z", "invalid mode: ro,z,Z"),
    ],
)
def test_bad_binds(raw: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=None) as e:
        parse_bind(raw)
    assert message in str(e.value)


def test_mount_bind_volume_tmpfs() -> None:
    b = parse_mount(
        {
            "Type": "bind",
            "Source": "/h",
            "Target": "/b",
            "ReadOnly": True,
            "BindOptions": {"Propagation": "rslave"},
        }
    )
    assert (b.type, b.rw, b.propagation, b.mode, b.create_source) == (
        "bind",
        False,
        "rslave",
        "",
        False,
    )
    v = parse_mount(
        {
            "Type": "volume",
            "Source": "v2",
            "Target": "/m",
            "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"}},
        }
    )
    assert (v.name, v.mode, v.copy_data, v.named, v.volume_labels) == (
        "v2",
        "z",
        False,
        True,
        {"a": "b"},
    )
    anon = parse_mount({"Type": "volume", "Target": "/anon"})
    assert (anon.name, anon.mode, anon.named) == ("", "", False)
    t = parse_mount(
        {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1777}}
    )
    assert t.tmpfs_options == "mode=1777,size=1m"
    assert mountspec.oci_mount(t) == {
        "destination": "/t",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["noexec", "nosuid", "nodev", "rprivate", "mode=1777", "size=1m"],
    }


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"Type": "bind", "Target": "/x"}, 'type "bind": field Source must not be empty'),
        ({"Type": "bind", "Source": "/h"}, "field Target must not be empty"),
        ({"Type": "bind", "Source": "rel", "Target": "/x"}, "mount path must be absolute"),
        (
            {"Type": "bind", "Source": "/h", "Target": "/x", "VolumeOptions": {}},
            "field VolumeOptions must not be specified",
        ),
        (
            {"Type": "tmpfs", "Source": "x", "Target": "/x"},
            'type "tmpfs": field Source must not be specified',
        ),
        (
            {"Type": "volume", "Target": "/x", "ReadOnly": True},
            "must not set ReadOnly mode when using anonymous volumes",
        ),
        ({"Type": "nfs", "Target": "/x"}, "mount type unknown"),
        (
            {"Type": "bind", "Source": "/h", "Target": "/x", "BindOptions": {"Propagation": "z"}},
            "invalid propagation mode: z",
        ),
    ],
)
def test_bad_mounts(doc: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_mount(doc)
    assert message in str(e.value)


def test_tmpfs_size_suffixes() -> None:
    assert mountspec.tmpfs_data({"SizeBytes": 3 << 30}, False) == "size=3g"
    assert mountspec.tmpfs_data({"SizeBytes": 1536}, True) == "ro,size=1536"
    assert mountspec.tmpfs_data({"SizeBytes": 2048}, False) == "size=2k"


def test_plan_precedence_and_anonymous_volumes() -> None:
    other = [
        MountPoint(type="volume", destination="/shared", name="s", named=True, mode="z"),
        MountPoint(type="volume", destination="/over", name="o", named=True),
        MountPoint(type="bind", destination="/hb", source="/host", propagation="rprivate"),
    ]
    points = plan(
        {"Volumes": {"/img": {}, "/shared": {}, "/tmp/t": {}}},
        {
            "Binds": ["/h:/over", "named:/n"],
            "Mounts": [{"Type": "volume", "Target": "/anon"}],
            "VolumesFrom": ["src:ro"],
            "Tmpfs": {"/tmp/t": ""},
        },
        lambda ref: other if ref == "src" else [],
        names(),  # type: ignore[arg-type]
    )
    by = {p.destination: p for p in points}
    assert sorted(by) == ["/anon", "/hb", "/img", "/n", "/over", "/shared"]
    assert by["/over"].type == "bind"  # -v replaces what --volumes-from brought
    assert by["/shared"].name == "s" and not by["/shared"].rw  # :ro, not an anonymous volume
    assert by["/hb"].rw is False and by["/hb"].source == "/host"
    assert by["/anon"].name == "anon0" and not by["/anon"].named
    assert by["/img"].name == "anon1" and by["/img"].copy_data and not by["/img"].named
    assert "/tmp/t" not in by  # --tmpfs wins over the image's VOLUME
    assert [p.destination for p in points] == sorted(by)


@pytest.mark.parametrize(
    "host_config",
    [
        {"Binds": ["/a:/x", "v:/x"]},
        {"Binds": ["/a:/x"], "Mounts": [{"Type": "tmpfs", "Target": "/x"}]},
        {"Binds": ["/a:/x"], "Tmpfs": {"/x": ""}},
        {"Mounts": [{"Type": "tmpfs", "Target": "/x"}, {"Type": "volume", "Target": "/x/"}]},
    ],
)
def test_duplicate_mount_points(host_config: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument, match="Duplicate mount point: /x"):
        plan({}, host_config, None, names())  # type: ignore[arg-type]


def test_volumes_from_errors() -> None:
    def missing(ref: str) -> list[MountPoint]:
        raise NotFound(f"No such container: {ref}")

    with pytest.raises(NotFound, match="No such container: nope"):
        plan({}, {"VolumesFrom": ["nope"]}, missing)
    for bad in ("c:rshared", "c:nocopy", "c:xx", ":ro"):
        with pytest.raises(InvalidArgument):
            mountspec.parse_volumes_from(bad)
    assert mountspec.parse_volumes_from("c:ro") == ("c", "ro")
    assert mountspec.parse_volumes_from("c") == ("c", "rw")


def test_oci_mounts_parents_first_and_driver_options() -> None:
    points = [
        MountPoint(type="volume", destination="/a/b", name="inner", source="/v/inner/_data"),
        MountPoint(type="bind", destination="/a", source="/h", propagation="rprivate", rw=False),
        MountPoint(type="volume", destination="/t", name="tv", source="/v/tv/_data"),
        MountPoint(type="volume", destination="/bd", name="bv", source="/v/bv/_data"),
        MountPoint(type="volume", destination="/skip", name="x", source="/v/x/_data"),
    ]
    opts = {
        "tv": {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"},
        "bv": {"type": "none", "device": "/srv/dev", "o": "bind"},
    }
    out = mountspec.oci_mounts(points, ["/skip"], lambda n: opts.get(n, {}))
    assert [m["destination"] for m in out] == ["/a", "/bd", "/t", "/a/b"]
    assert out[0] == {
        "destination": "/a",
        "type": "bind",
        "source": "/h",
        "options": ["rbind", "ro", "rprivate"],
    }
    assert out[1] == {
        "destination": "/bd",
        "type": "bind",
        "source": "/srv/dev",
        "options": ["rbind"],
    }
    assert out[2] == {
        "destination": "/t",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["size=1m"],
    }
    assert out[3]["source"] == "/v/inner/_data" and out[3]["options"] == ["rbind"]


def test_mount_points_round_trip_json() -> None:
    mp = parse_mount(
        {"Type": "volume", "Source": "v", "Target": "/v", "VolumeOptions": {"Labels": {"k": "v"}}}
    )
    again = mountspec.load([mp.to_json()])
    assert again == [mp]
    assert mountspec.load(None) == []


_MODES = ["ro", "rw", "z", "Z", "rprivate", "shared", "nocopy", "cached", "bogus", ""]


@given(st.lists(st.sampled_from(_MODES), max_size=5))
def test_valid_mode_is_at_most_one_of_each_kind(opts: list[str]) -> None:
    mode = ",".join(opts)
    kinds = [
        mountspec.RW_MODES,
        mountspec.LABEL_MODES,
        mountspec.PROPAGATIONS,
        mountspec.COPY_MODES,
        mountspec.CONSISTENCY_MODES,
    ]
    known = {o for k in kinds for o in k}
    opts = mode.split(",")
    expected = not mode or (
        all(o in known for o in opts) and all(sum(o in k for o in opts) <= 1 for k in kinds)
    )
    assert mountspec.valid_mode(mode) == expected


_SEG = st.text(alphabet="abc.-_", min_size=1, max_size=5).filter(lambda s: s not in (".", ".."))


@given(st.lists(_SEG, min_size=1, max_size=4), st.lists(_SEG, min_size=1, max_size=4))
def test_bind_sources_and_destinations_round_trip(src: list[str], dst: list[str]) -> None:
    raw = "/" + "/".join(src) + ":/" + "/".join(dst)
    mp = parse_bind(raw)
    assert mp.type == "bind"
    assert mp.source == "/" + "/".join(src) and mp.destination == "/" + "/".join(dst)
    assert mp.rw and mp.mode == ""
