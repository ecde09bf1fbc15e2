"""OCI image spec 1.1 and Docker image manifest v2 schema 2 documents, as records.

Both formats share one shape; only the media types differ:

=========================  ===================================================
document                   media types
=========================  ===================================================
manifest                   ``application/vnd.oci.image.manifest.v1+json``,
                           ``application/vnd.docker.distribution.manifest.v2+json``
index / manifest list      ``application/vnd.oci.image.index.v1+json``,
                           ``application/vnd.docker.distribution.manifest.list.v2+json``
config                     ``application/vnd.oci.image.config.v1+json``,
                           ``application/vnd.docker.container.image.v1+json``
layer                      ``...layer.v1.tar`` (+gzip, +zstd),
                           ``application/vnd.docker.image.rootfs.diff.tar.gzip``
=========================  ===================================================

The image config (:class:`ImageConfig`) is the document whose digest is the
image ID. Its ``config`` (:class:`ContainerConfig`) uses Docker's PascalCase
keys (``Env``, ``Cmd``, ``Entrypoint``, ...), which the OCI spec adopted.
Records keep unknown keys, so a document read and written again keeps its
bytes' meaning; berth never re-serialises a document it did not make: the
stored bytes are the content, the record is a typed view of them.
"""

from __future__ import annotations

from berth.errors import InvalidArgument
from berth.oci.record import Record, field

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
CONFIG_TYPES = (OCI_CONFIG, DOCKER_CONFIG)

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"


def layer_compression(media_type: str) -> str:
    """``gzip``, ``zstd`` or ``none`` for a layer media type; InvalidArgument otherwise."""
    if media_type in (DOCKER_LAYER, OCI_LAYER_GZIP, OCI_LAYER_NONDIST_GZIP, DOCKER_FOREIGN_LAYER):
        return "gzip"
    if media_type == OCI_LAYER_ZSTD:
        return "zstd"
    if media_type in (OCI_LAYER, "application/vnd.oci.image.layer.nondistributable.v1.tar"):
        return "none"
    raise InvalidArgument(f"unsupported layer media type {media_type!r}")


class Platform(Record):
    architecture: str
    os: str
    os_version: str | None = field(json="os.version", default=None)
    os_features: tuple[str, ...] | None = field(json="os.features", default=None)
    variant: str | None = None


class Descriptor(Record):
    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] | None = None
    annotations: dict[str, str] | None = None
    platform: Platform | None = None
    artifact_type: str | None = None


class Manifest(Record):
    schema_version: int
    config: Descriptor
    layers: tuple[Descriptor, ...] = ()
    media_type: str | None = None
    annotations: dict[str, str] | None = None
    subject: Descriptor | None = None
    artifact_type: str | None = None


class Index(Record):
    schema_version: int
    manifests: tuple[Descriptor, ...] = ()
    media_type: str | None = None
    annotations: dict[str, str] | None = None
    subject: Descriptor | None = None


class Healthcheck(Record):
    test: tuple[str, ...] | None = field(json="Test", default=None)
    interval: int | None = field(json="Interval", default=None)
    timeout: int | None = field(json="Timeout", default=None)
    start_period: int | None = field(json="StartPeriod", default=None)
    start_interval: int | None = field(json="StartInterval", default=None)
    retries: int | None = field(json="Retries", default=None)


class ContainerConfig(Record):
    """What a container made from the image starts with (Docker's keys)."""

    hostname: str | None = field(json="Hostname", default=None)
    domainname: str | None = field(json="Domainname", default=None)
    user: str | None = field(json="User", default=None)
    exposed_ports: dict[str, object] | None = field(json="ExposedPorts", default=None)
    env: tuple[str, ...] | None = field(json="Env", default=None)
    entrypoint: tuple[str, ...] | None = field(json="Entrypoint", default=None)
    cmd: tuple[str, ...] | None = field(json="Cmd", default=None)
    volumes: dict[str, object] | None = field(json="Volumes", default=None)
    working_dir: str | None = field(json="WorkingDir", default=None)
    labels: dict[str, str] | None = field(json="Labels", default=None)
    stop_signal: str | None = field(json="StopSignal", default=None)
    stop_timeout: int | None = field(json="StopTimeout", default=None)
    healthcheck: Healthcheck | None = field(json="Healthcheck", default=None)
    shell: tuple[str, ...] | None = field(json="Shell", default=None)
    on_build: tuple[str, ...] | None = field(json="OnBuild", default=None)
    args_escaped: bool | None = field(json="ArgsEscaped", default=None)


class RootFS(Record):
    type: str
    diff_ids: tuple[str, ...] = field(json="diff_ids", default=())


class History(Record):
    created: str | None = None
    created_by: str | None = field(json="created_by", default=None)
    author: str | None = None
    comment: str | None = None
    empty_layer: bool | None = field(json="empty_layer", default=None)


class ImageConfig(Record):
    """The image configuration; its digest is the image ID."""

    architecture: str = "amd64"
    os: str = "linux"
    variant: str | None = None
    os_version: str | None = field(json="os.version", default=None)
    created: str | None = None
    author: str | None = None
    config: ContainerConfig | None = None
    rootfs: RootFS = field(default_factory=lambda: RootFS(type="layers"))
    history: tuple[History, ...] | None = None
    docker_version: str | None = field(json="docker_version", default=None)
    comment: str | None = None


def parse_manifest_or_index(data: bytes, media_type: str = "") -> Manifest | Index:
    """Decode a manifest or an index; the media type comes from the header or the body."""
    from berth import jsonio

    doc = jsonio.loads(data, "manifest")
    if not isinstance(doc, dict):
        raise InvalidArgument("manifest: expected a JSON object")
    kind = doc.get("mediaType") or media_type
    if kind == DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise InvalidArgument(
            "manifest: Docker image manifest schema 1 is not supported; "
            "push the image again with a current client (schema 2 or OCI)"
        )
    if kind in INDEX_TYPES or (not kind and "manifests" in doc):
        return Index.from_json(doc, "index")
    if kind in MANIFEST_TYPES or (not kind and "config" in doc):
        return Manifest.from_json(doc, "manifest")
    raise InvalidArgument(f"manifest: unsupported media type {kind!r}")
