"""Registry credentials in Docker's ``config.json`` format.

The file is ``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``)::

    {"auths": {"127.0.0.1:5000": {"auth": "<base64 of user:password>"},
               "https://index.docker.io/v1/": {"auth": "..."}}}

Docker Hub's key is ``https://index.docker.io/v1/``; others are the
registry's host[:port]. Other keys of the file are kept unchanged when berth
writes it (``berth login`` / ``berth logout``). Credential helpers
(``credsStore``) are not run: berth reads and writes the file only.
"""

from __future__ import annotations

import base64
import os

from berth import jsonio
from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.images.registry import Credentials

HUB_KEY = "https://index.docker.io/v1/"


def config_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def server_key(server: str) -> str:
    """The auths key of a registry as Docker writes it."""
    s = server.strip()
    for prefix in ("https://", "http://"):
        if s.startswith(prefix):
            s = s[len(prefix) :]
    s = s.rstrip("/")
    if s.endswith("/v1") or s.endswith("/v2"):
        s = s[:-3]
    if s in ("", "docker.io", "index.docker.io", "registry-1.docker.io"):
        return HUB_KEY
    return s


def _read(path: str) -> dict[str, object]:
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    if not text.strip():
        return {}
    doc = jsonio.loads(text, path)
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{path}: expected a JSON object")
    return doc


def load(server: str, path: str | None = None) -> Credentials | None:
    from berth.images.registry import Credentials

    doc = _read(path or config_path())
    auths = doc.get("auths") or {}
    if not isinstance(auths, dict):
        return None
    key = server_key(server)
    entry = auths.get(key)
    if entry is None:  # tolerate "https://host" keys written by other tools
        for k, v in auths.items():
            if server_key(k) == key:
                entry = v
                break
    if not isinstance(entry, dict):
        return None
    token = str(entry.get("identitytoken") or "")
    raw = entry.get("auth")
    if raw:
        try:
            user, _, password = base64.b64decode(str(raw)).decode().partition(":")
        except ValueError:
            raise InvalidArgument(f"{path or config_path()}: invalid auth for {key}") from None
        return Credentials(user, password, token)
    if entry.get("username"):
        return Credentials(str(entry["username"]), str(entry.get("password", "")), token)
    return Credentials("", "", token) if token else None


def store(server: str, username: str, password: str, path: str | None = None) -> str:
    """Save credentials; return the file written."""
    path = path or config_path()
    doc = _read(path)
    auths = doc.get("auths")
    if not isinstance(auths, dict):
        auths = {}
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    auths[server_key(server)] = {"auth": raw}
    doc["auths"] = auths
    _write(path, doc)
    return path


def erase(server: str, path: str | None = None) -> bool:
    """Remove the credentials of ``server``; return whether there were any."""
    path = path or config_path()
    doc = _read(path)
    auths = doc.get("auths")
    if not isinstance(auths, dict):
        return False
    key = server_key(server)
    found = [k for k in auths if server_key(k) == key]
    for k in found:
        del auths[k]
    if found:
        _write(path, doc)
    return bool(found)


def _write(path: str, doc: dict[str, object]) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(jsonio.dumps(doc, indent=1) + "\n")
    os.rename(tmp, path)
