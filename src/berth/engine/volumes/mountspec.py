"""A container's mounts as data: Docker's mount syntax -> mount points -> OCI mounts.

Pure (no files touched): unit-tested without root. Docker's rules (moby's
``volume/mounts`` Linux parser and ``registerMountPoints``):

- ``HostConfig.Binds`` (``-v``): ``SRC:DST[:MODE]``; an absolute SRC is a bind
  of a host path (created at start when missing), anything else names a
  volume (created on demand). MODE is a comma list of at most one each of
  ``ro``/``rw``, ``z``/``Z``, a propagation (``rprivate``, ``shared``, ...),
  ``nocopy`` and a consistency (``consistent``, ``cached``, ``delegated``).
  ``DST:MODE`` alone is refused, as Docker does.
- ``HostConfig.Mounts`` (``--mount``): ``{"Type": bind|volume|tmpfs, "Source",
  "Target", "ReadOnly", "BindOptions", "VolumeOptions", "TmpfsOptions"}``; a
  bind source must exist (checked by the service at create).
- ``Config.Volumes`` (``-v /ctr`` and the image's ``VOLUME``): an anonymous
  volume at each destination nothing else mounts.
- ``HostConfig.VolumesFrom`` (``CONTAINER[:ro|rw]``): the other container's
  mount points, read-only with ``:ro``; binds and ``--mount`` at the same
  destination replace them.
- Two binds/mounts at one destination, or one at a ``--tmpfs`` destination:
  ``Duplicate mount point: DST``.

The plan is recorded with the container (``row.extra["mount_points"]``, the
JSON of :class:`MountPoint`, schema version 1); :func:`docker_mount` is what
inspect shows and :func:`oci_mount` what the runtime mounts.
"""

from __future__ import annotations

import posixpath

from berth.errors import InvalidArgument
from berth.oci.record import Record, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

SCHEMA_VERSION = 1
ANONYMOUS_LABEL = "com.docker.volume.anonymous"

RW_MODES = ("ro", "rw")
LABEL_MODES = ("z", "Z")
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
COPY_MODES = ("nocopy",)
CONSISTENCY_MODES = ("consistent", "cached", "delegated", "default")
DEFAULT_PROPAGATION = "rprivate"


class MountPoint(Record):
    """One mount of a container. JSON keys are Docker's where Docker has the field."""

    type: str = field(json="Type")  #: bind | volume | tmpfs
    destination: str = field(json="Destination")
    source: str = field(json="Source", default="")  #: host path (binds; volumes once created)
    name: str = field(json="Name", default="")  #: volume name
    driver: str = field(json="Driver", default="")
    mode: str = field(json="Mode", default="")
    rw: bool = field(json="RW", default=True)
    propagation: str = field(json="Propagation", default="")
    #: copy the image's content at ``destination`` into the volume when it is empty
    copy_data: bool = field(json="CopyData", default=False)
    #: the volume was named by the user (``-v name:/x``): ``rm -v`` keeps it
    named: bool = field(json="Named", default=False)
    #: a ``-v`` bind: create the host directory when it is missing
    create_source: bool = field(json="CreateSource", default=False)
    tmpfs_options: str = field(json="TmpfsOptions", default="")
    #: labels and driver options for a volume created by this mount (``--mount``)
    volume_labels: dict[str, str] = field(json="VolumeLabels", default_factory=dict)
    volume_options: dict[str, str] = field(json="VolumeDriverOptions", default_factory=dict)


def invalid_spec(raw: str) -> InvalidArgument:
    return InvalidArgument(f"invalid volume specification: '{raw}'")


def valid_mode(mode: str) -> bool:
    """Docker's linuxValidMountMode: at most one of each kind, nothing unknown."""
    if not mode:
        return True
    counts = [0, 0, 0, 0, 0]
    for opt in mode.split(","):
        for i, kinds in enumerate(
            (RW_MODES, LABEL_MODES, PROPAGATIONS, COPY_MODES, CONSISTENCY_MODES)
        ):
            if opt in kinds:
                counts[i] += 1
                break
        else:
            return False
    return all(c <= 1 for c in counts)


def _opts(mode: str) -> list[str]:
    return [o for o in mode.split(",") if o] if mode else []


def read_write(mode: str) -> bool:
    return "ro" not in _opts(mode)


def propagation_of(mode: str) -> str:
    for opt in _opts(mode):
        if opt in PROPAGATIONS:
            return opt
    return ""


def _check_target(target: str, kind: str) -> str:
    def err(text: str) -> InvalidArgument:
        return InvalidArgument(f'invalid mount config for type "{kind}": {text}')

    if not target:
        raise err("field Target must not be empty")
    if posixpath.normpath(target) == "/" or target == "/":
        raise err("invalid specification: destination can't be '/'")
    if not target.startswith("/"):
        raise err(f"invalid mount path: '{target}' mount path must be absolute")
    return clean(target)


def clean(path: str) -> str:
    out = posixpath.normpath(path)
    return "/" + out.lstrip("/") if out.startswith("//") else out


def parse_bind(raw: str) -> MountPoint:
    """One ``HostConfig.Binds`` entry (``-v``)."""
    if raw.count(":") > 2:
        raise invalid_spec(raw)
    parts = raw.split(":", 2)
    if not parts[0]:
        raise invalid_spec(raw)
    mode = ""
    if len(parts) == 1:
        source, target = "", parts[0]
    elif len(parts) == 2:
        if valid_mode(parts[1]):  # "/foo:rw": a destination with a mode is not a volume
            raise invalid_spec(raw)
        source, target = parts
    else:
        source, target, mode = parts
    if not valid_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")
    kind = "bind" if source.startswith("/") else "volume"
    try:
        dest = _check_target(target, kind)
    except InvalidArgument as e:
        raise InvalidArgument(f"{invalid_spec(raw)}: {e}") from None
    rw = read_write(mode)
    if kind == "bind":
        return MountPoint(
            type="bind",
            destination=dest,
            source=clean(source),
            mode=mode,
            rw=rw,
            propagation=propagation_of(mode) or DEFAULT_PROPAGATION,
            create_source=True,
        )
    if not source:
        if mode and "ro" in _opts(mode):
            raise InvalidArgument(
                f"{invalid_spec(raw)}: must not set ReadOnly mode when using anonymous volumes"
            )
        return MountPoint(type="volume", destination=dest, mode=mode, rw=rw, copy_data=True)
    return MountPoint(
        type="volume",
        destination=dest,
        name=source,
        mode=mode or "z",
        rw=rw,
        copy_data="nocopy" not in _opts(mode),
        named=True,
    )


def parse_mount(doc: dict[str, Any]) -> MountPoint:
    """One ``HostConfig.Mounts`` entry (``--mount``)."""
    if not isinstance(doc, dict):
        raise InvalidArgument("HostConfig.Mounts: each mount must be an object")
    kind = str(doc.get("Type") or "")

    def err(text: str) -> InvalidArgument:
        return InvalidArgument(f'invalid mount config for type "{kind}": {text}')

    if kind not in ("bind", "volume", "tmpfs"):
        if kind in ("npipe", "cluster", "image"):
            raise err(f"mount type {kind} is not supported by berth")
        raise err("mount type unknown")
    dest = _check_target(str(doc.get("Target") or ""), kind)
    source = str(doc.get("Source") or "")
    readonly = bool(doc.get("ReadOnly"))
    bind_opts = doc.get("BindOptions")
    vol_opts = doc.get("VolumeOptions")
    tmpfs_opts = doc.get("TmpfsOptions")
    if kind == "bind":
        if not source:
            raise err("field Source must not be empty")
        if vol_opts is not None:
            raise err("field VolumeOptions must not be specified")
        if tmpfs_opts is not None:
            raise err("field TmpfsOptions must not be specified")
        if not source.startswith("/"):
            raise err(f"invalid mount path: '{source}' mount path must be absolute")
        prop = str((bind_opts or {}).get("Propagation") or "")
        if prop and prop not in PROPAGATIONS:
            raise err(f"invalid propagation mode: {prop}")
        return MountPoint(
            type="bind",
            destination=dest,
            source=clean(source),
            rw=not readonly,
            propagation=prop or DEFAULT_PROPAGATION,
            create_source=bool((bind_opts or {}).get("CreateMountpoint")),
        )
    if kind == "volume":
        if bind_opts is not None:
            raise err("field BindOptions must not be specified")
        if tmpfs_opts is not None:
            raise err("field TmpfsOptions must not be specified")
        if readonly and not source:
            raise err("must not set ReadOnly mode when using anonymous volumes")
        opts = vol_opts or {}
        if not isinstance(opts, dict):
            raise err("VolumeOptions must be an object")
        if opts.get("Subpath"):
            raise err("VolumeOptions.Subpath is not supported by berth")
        driver_cfg = opts.get("DriverConfig") or {}
        labels = {str(k): str(v) for k, v in (opts.get("Labels") or {}).items()}
        options = {str(k): str(v) for k, v in (driver_cfg.get("Options") or {}).items()}
        return MountPoint(
            type="volume",
            destination=dest,
            name=source,
            driver=str(driver_cfg.get("Name") or ""),
            mode="z" if source else "",
            rw=not readonly,
            copy_data=not bool(opts.get("NoCopy")),
            named=bool(source),
            volume_labels=labels,
            volume_options=options,
        )
    if bind_opts is not None:
        raise err("field BindOptions must not be specified")
    if vol_opts is not None:
        raise err("field VolumeOptions must not be specified")
    if source:
        raise err("field Source must not be specified")
    return MountPoint(
        type="tmpfs",
        destination=dest,
        rw=not readonly,
        tmpfs_options=tmpfs_data(tmpfs_opts or {}, readonly),
    )


def tmpfs_data(opts: dict[str, Any], readonly: bool) -> str:
    """Docker's ConvertTmpfsOptions: ``ro``, ``mode=1777``, ``size=64m``."""
    out = ["ro"] if readonly else []
    mode = opts.get("Mode")
    if mode:
        if not isinstance(mode, int) or mode < 0:
            raise InvalidArgument(f"invalid tmpfs mode: {mode!r}")
        out.append(f"mode={mode:o}")
    size = opts.get("SizeBytes")
    if size:
        if not isinstance(size, int) or size < 0:
            raise InvalidArgument(f"invalid tmpfs size: {size!r}")
        suffix = ""
        for s, div in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % div == 0:
                size, suffix = size // div, s
                break
        out.append(f"size={size}{suffix}")
    return ",".join(out)


def parse_volumes_from(spec: str) -> tuple[str, str]:
    """``CONTAINER[:ro|rw]`` -> (container, mode)."""
    ref, sep, mode = spec.partition(":")
    if not ref:
        raise InvalidArgument(f"invalid volumes-from specification: '{spec}'")
    if not sep:
        return ref, "rw"
    opts = _opts(mode)
    if not valid_mode(mode) or any(o in PROPAGATIONS or o in COPY_MODES for o in opts) or not mode:
        raise InvalidArgument(f"invalid mode: {mode}")
    return ref, mode


def plan(
    config: dict[str, Any],
    host_config: dict[str, Any],
    volumes_from: Callable[[str], Iterable[MountPoint]] | None = None,
    new_name: Callable[[], str] | None = None,
) -> list[MountPoint]:
    """The container's mount points, in Docker's precedence, sorted by destination.

    ``volumes_from(ref)`` gives another container's mount points (raising
    NotFound); ``new_name()`` a name for each anonymous volume (64 random hex
    digits by default).
    """
    if new_name is None:

        def new_name() -> str:
            import os

            return os.urandom(32).hex()

    tmpfs = {clean(str(p)) for p in (host_config.get("Tmpfs") or {})}
    points: dict[str, MountPoint] = {}
    for spec in host_config.get("VolumesFrom") or []:
        ref, mode = parse_volumes_from(str(spec))
        if volumes_from is None:
            raise InvalidArgument("--volumes-from needs the container service")
        for m in volumes_from(ref):
            points[m.destination] = m.replace(rw=m.rw and read_write(mode), copy_data=False)
    taken: set[str] = set()
    for raw in host_config.get("Binds") or []:
        if not isinstance(raw, str):
            raise InvalidArgument("HostConfig.Binds: each bind must be a string")
        mp = parse_bind(raw)
        if mp.destination in taken or mp.destination in tmpfs:
            raise InvalidArgument(f"Duplicate mount point: {mp.destination}")
        if mp.type == "volume" and not mp.name:
            mp = mp.replace(name=new_name())
        taken.add(mp.destination)
        points[mp.destination] = mp
    for doc in host_config.get("Mounts") or []:
        mp = parse_mount(doc)
        if mp.destination in taken or mp.destination in tmpfs:
            raise InvalidArgument(f"Duplicate mount point: {mp.destination}")
        if mp.type == "volume" and not mp.name:
            mp = mp.replace(name=new_name())
        taken.add(mp.destination)
        points[mp.destination] = mp
    for path in config.get("Volumes") or {}:
        text = str(path)
        if not text.startswith("/"):
            raise InvalidArgument(f"invalid mount path: '{text}' mount path must be absolute")
        if text.strip("/") == "" and text:
            raise InvalidArgument("invalid specification: destination can't be '/'")
        dest = clean(text)
        if dest in points or dest in tmpfs:
            continue
        points[dest] = MountPoint(type="volume", destination=dest, name=new_name(), copy_data=True)
    return [points[d] for d in sorted(points)]


def is_anonymous(mp: MountPoint) -> bool:
    return mp.type == "volume" and not mp.named


def docker_mount(mp: MountPoint) -> dict[str, Any]:
    """The entry of inspect's ``Mounts`` (Docker's MountPoint JSON)."""
    out: dict[str, Any] = {"Type": mp.type}
    if mp.type == "volume":
        out["Name"] = mp.name
    out["Source"] = mp.source
    out["Destination"] = mp.destination
    if mp.type == "volume":
        out["Driver"] = mp.driver or "local"
    out["Mode"] = mp.mode
    out["RW"] = mp.rw
    out["Propagation"] = mp.propagation
    return out


def depth(path: str) -> int:
    return len([p for p in path.split("/") if p])


def oci_mount(mp: MountPoint, volume_options: dict[str, str] | None = None) -> dict[str, Any]:
    """The OCI runtime mount of a mount point (volumes: ``mp.source`` is their ``_data``).

    ``volume_options`` are the local driver's options of the volume
    (``type``/``device``/``o``): the filesystem is then mounted in the
    container itself (``type=none,o=bind`` binds ``device``).
    """
    ro = [] if mp.rw else ["ro"]
    if mp.type == "tmpfs":
        data = [o for o in mp.tmpfs_options.split(",") if o]
        return {
            "destination": mp.destination,
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["noexec", "nosuid", "nodev", DEFAULT_PROPAGATION, *data],
        }
    opts = volume_options or {}
    if mp.type == "volume" and (opts.get("type") or opts.get("device")):
        fstype = opts.get("type") or "none"
        o = [x for x in (opts.get("o") or "").split(",") if x]
        device = opts.get("device") or fstype
        if fstype == "none" or "bind" in o or "rbind" in o:
            rest = [x for x in o if x not in ("bind", "rbind")]
            return {
                "destination": mp.destination,
                "type": "bind",
                "source": device,
                "options": ["rbind", *rest, *ro],
            }
        return {"destination": mp.destination, "type": fstype, "source": device, "options": o + ro}
    options = ["rbind", *ro]
    if mp.propagation:
        options.append(mp.propagation)
    return {"destination": mp.destination, "type": "bind", "source": mp.source, "options": options}


def oci_mounts(
    points: Iterable[MountPoint],
    tmpfs: Iterable[str] = (),
    volume_options: Callable[[str], dict[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """OCI mounts of the mount points, parents first (``--tmpfs`` destinations win)."""
    skip = {clean(str(p)) for p in tmpfs}
    chosen = [m for m in points if m.destination not in skip]
    chosen.sort(key=lambda m: (depth(m.destination), m.destination))
    out = []
    for m in chosen:
        opts = volume_options(m.name) if (volume_options and m.type == "volume") else None
        out.append(oci_mount(m, opts))
    return out


def load(doc: object) -> list[MountPoint]:
    """The mount points recorded with a container (``row.extra["mount_points"]``)."""
    if not isinstance(doc, list):
        return []
    return [MountPoint.from_json(d, f"mount_points[{i}]") for i, d in enumerate(doc)]
