"""``--change`` instructions (import, commit) applied to an image's container config.

Docker accepts CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL,
USER, VOLUME and WORKDIR, in Dockerfile syntax: ``CMD ["a", "b"]`` (JSON
form) or ``CMD a b`` (shell form -> ``["/bin/sh", "-c", "a b"]``).
"""

from __future__ import annotations

from berth import jsonio
from berth.errors import InvalidArgument
from berth.oci import image_spec as spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ALLOWED = (
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
)


def _json_or_shell(rest: str, shell: bool) -> list[str]:
    text = rest.strip()
    if text.startswith("["):
        try:
            value = jsonio.loads(text)
        except InvalidArgument:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", text] if shell else text.split()


def _pairs(rest: str, what: str) -> list[tuple[str, str]]:
    import shlex

    try:
        words = shlex.split(rest)
    except ValueError as e:
        raise InvalidArgument(f"{what}: {e}") from None
    if not words:
        raise InvalidArgument(f"{what} requires at least one argument")
    if "=" not in words[0]:  # legacy "ENV key value with spaces"
        if len(words) < 2:
            raise InvalidArgument(f"{what} must have two arguments")
        return [(words[0], rest.strip()[len(words[0]) :].strip())]
    out = []
    for w in words:
        key, sep, value = w.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{what}: {w!r} is not key=value")
        out.append((key, value))
    return out


def apply_changes(config: spec.ContainerConfig | None, changes: list[str]) -> spec.ContainerConfig:
    """The container config with ``changes`` applied in order."""
    doc: dict[str, Any] = (config or spec.ContainerConfig()).to_json()
    for change in changes:
        for line in change.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            word, _, rest = line.partition(" ")
            instr = word.upper()
            if instr not in ALLOWED:
                raise InvalidArgument(f"{word} is not a valid change command")
            if instr in ("CMD", "ENTRYPOINT"):
                doc["Cmd" if instr == "CMD" else "Entrypoint"] = _json_or_shell(rest, True)
                if instr == "ENTRYPOINT" and "Cmd" in doc and not rest.strip().startswith("["):
                    doc["Cmd"] = None
            elif instr == "ENV":
                env = list(doc.get("Env") or [])
                for key, value in _pairs(rest, "ENV"):
                    env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
                doc["Env"] = env
            elif instr == "LABEL":
                labels = dict(doc.get("Labels") or {})
                labels.update(_pairs(rest, "LABEL"))
                doc["Labels"] = labels
            elif instr == "EXPOSE":
                ports = dict(doc.get("ExposedPorts") or {})
                for p in rest.split():
                    ports[p if "/" in p else f"{p}/tcp"] = {}
                doc["ExposedPorts"] = ports
            elif instr == "VOLUME":
                vols = dict(doc.get("Volumes") or {})
                for v in _json_or_shell(rest, False):
                    vols[v] = {}
                doc["Volumes"] = vols
            elif instr == "ONBUILD":
                doc["OnBuild"] = [*list(doc.get("OnBuild") or []), rest.strip()]
            else:
                key = {"STOPSIGNAL": "StopSignal", "USER": "User", "WORKDIR": "WorkingDir"}[instr]
                if not rest.strip():
                    raise InvalidArgument(f"{instr} requires exactly one argument")
                doc[key] = rest.strip()
    doc = {k: v for k, v in doc.items() if v is not None}
    return spec.ContainerConfig.from_json(doc, "config")
