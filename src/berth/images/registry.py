"""A client of the Docker Registry HTTP API V2 / OCI distribution spec.

One :class:`Registry` per registry host. Connections are http.client
keep-alive ones, one per thread (layers download in parallel threads).
``127.0.0.0/8``, ``::1`` and ``localhost`` registries, and those named in
``insecure``, speak plain HTTP, as in Docker; others HTTPS.

Authentication follows the ``WWW-Authenticate`` challenge of a 401:
``Basic`` sends the stored credentials; ``Bearer realm=...,service=...,
scope=...`` fetches a token from the realm (with the credentials, if any)
and retries; tokens are cached per scope. Errors map onto berth.errors:
401/403 Unauthorized, 404 NotFound, connection failures and 5xx
Unavailable (retried by the caller), anything else InvalidArgument.
"""

from __future__ import annotations

import base64
import http.client
import ssl
import threading
import time
import urllib.parse

from berth import jsonio
from berth.errors import BerthError, InvalidArgument, NotFound, Unauthorized, Unavailable
from berth.oci import image_spec as spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

ACCEPT_MANIFESTS = ", ".join(
    (spec.OCI_INDEX, spec.DOCKER_LIST, spec.OCI_MANIFEST, spec.DOCKER_MANIFEST)
)
DOCKER_HUB_API = "registry-1.docker.io"
USER_AGENT = "berth/0.1"
TIMEOUT = 60.0


def is_local(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    return name == "localhost" or name.startswith("127.") or name == "::1"


def is_insecure(host: str, insecure: Iterable[str]) -> bool:
    """Whether ``host`` is named in the insecure list (``host[:port]`` or a CIDR of its IP)."""
    import ipaddress

    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip("[]")
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(name)
    except ValueError:
        ip = None
    for item in insecure:
        if item in (host, name):
            return True
        if "/" in item and ip is not None:
            try:
                if ip in ipaddress.ip_network(item, strict=False):
                    return True
            except ValueError:
                continue
    return False


def api_host(domain: str) -> str:
    return DOCKER_HUB_API if domain == "docker.io" else domain


class Credentials:
    __slots__ = ("password", "token", "username")

    def __init__(self, username: str = "", password: str = "", token: str = "") -> None:
        self.username = username
        self.password = password
        self.token = token  # identity token (Docker's "identitytoken")

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="x",service="y"`` -> ("bearer", {"realm": "x", "service": "y"})."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " ,":
            i += 1
        eq = rest.find("=", i)
        if eq < 0:
            break
        key = rest[i:eq].strip().lower()
        i = eq + 1
        if i < n and rest[i] == '"':
            i += 1
            value = []
            while i < n and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(rest[i])
                i += 1
            i += 1
            params[key] = "".join(value)
        else:
            end = rest.find(",", i)
            end = n if end < 0 else end
            params[key] = rest[i:end].strip()
            i = end
    return scheme.lower(), params


class Response:
    """A response whose body is read in chunks (``read``) and then released."""

    def __init__(self, conn: _Conn, resp: http.client.HTTPResponse) -> None:
        self._conn = conn
        self._resp = resp
        self.status = resp.status
        self.headers = resp.headers

    def read(self, n: int = -1) -> bytes:
        try:
            return self._resp.read(n if n >= 0 else None)
        except (OSError, http.client.HTTPException) as e:
            self._conn.drop()
            raise Unavailable(f"registry {self._conn.host}: connection broke while reading: {e}")

    def header(self, name: str, default: str = "") -> str:
        return self._resp.getheader(name, default) or default

    def close(self) -> None:
        if not self._resp.isclosed():
            try:
                self._resp.read()
            except (OSError, http.client.HTTPException):
                self._conn.drop()
        self._resp.close()


class _Conn:
    def __init__(self, host: str, secure: bool) -> None:
        self.host = host
        self.secure = secure
        self.conn: http.client.HTTPConnection | None = None

    def get(self) -> http.client.HTTPConnection:
        if self.conn is None:
            if self.secure:
                self.conn = http.client.HTTPSConnection(
                    self.host,
                    timeout=TIMEOUT,
                    context=ssl.create_default_context(),
                    blocksize=1 << 20,
                )
            else:
                self.conn = http.client.HTTPConnection(
                    self.host, timeout=TIMEOUT, blocksize=1 << 20
                )
        return self.conn

    def drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Registry:
    def __init__(
        self,
        domain: str,
        credentials: Credentials | None = None,
        insecure: Iterable[str] = (),
        secure: bool | None = None,
    ) -> None:
        self.domain = domain
        self.host = api_host(domain)
        if secure is None:
            secure = not (is_local(self.host) or is_insecure(self.host, insecure))
        self.secure = secure
        self.credentials = credentials
        self._local = threading.local()
        self._tokens: dict[str, str] = {}
        self._challenge: tuple[str, dict[str, str]] | None = None
        self._lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.host}"

    def _conn(self, host: str | None = None, secure: bool | None = None) -> _Conn:
        host = host or self.host
        secure = self.secure if secure is None else secure
        conns: dict[tuple[str, bool], _Conn] = self._local.__dict__.setdefault("conns", {})
        key = (host, secure)
        if key not in conns:
            conns[key] = _Conn(host, secure)
        return conns[key]

    def close(self) -> None:
        for c in self._local.__dict__.get("conns", {}).values():
            c.drop()

    # -- HTTP -----------------------------------------------------------------------
    def _send(
        self,
        conn: _Conn,
        method: str,
        path: str,
        headers: dict[str, str],
        body: object = None,
    ) -> http.client.HTTPResponse:
        for attempt in range(2):
            try:
                c = conn.get()
                c.request(method, path, body=body, headers=headers)  # type: ignore[arg-type]
                return c.getresponse()
            except (ConnectionRefusedError, TimeoutError, ssl.SSLError) as e:
                conn.drop()
                raise Unavailable(
                    f"cannot reach registry {conn.host}: {e}; is it running"
                    + (" and does it speak HTTPS (else mark it insecure)?" if conn.secure else "?")
                ) from None
            except (OSError, http.client.HTTPException) as e:
                conn.drop()  # a keep-alive connection the server closed: retry once
                if attempt or (body is not None and not isinstance(body, bytes)):
                    raise Unavailable(f"registry {conn.host}: {method} {path}: {e}") from None
        raise AssertionError("unreachable")

    def request(
        self,
        method: str,
        path: str,
        scope: str,
        headers: dict[str, str] | None = None,
        body: bytes | object = None,
        ok: tuple[int, ...] = (200,),
        follow: bool = True,
    ) -> Response:
        """Send with auth; follow redirects (GET/HEAD); raise on a status not in ``ok``."""
        hdrs = {"User-Agent": USER_AGENT, **(headers or {})}
        if body is None and method in ("PUT", "POST", "PATCH"):
            hdrs.setdefault("Content-Length", "0")
        auth = self._auth_header(scope)
        if auth:
            hdrs["Authorization"] = auth
        conn = self._conn()
        resp = self._send(conn, method, path, hdrs, body)
        if resp.status == 401 and (body is None or isinstance(body, bytes)):
            challenge = resp.getheader("WWW-Authenticate", "")
            resp.read()
            auth = self._authenticate(challenge, scope)
            if auth:
                hdrs["Authorization"] = auth
                resp = self._send(conn, method, path, hdrs, body)
        hops = 0
        while follow and resp.status in (301, 302, 303, 307, 308) and hops < 5:
            location = resp.getheader("Location", "")
            resp.read()
            hops += 1
            url = urllib.parse.urljoin(self.base + path, location)
            parts = urllib.parse.urlsplit(url)
            same = parts.netloc == self.host
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            rconn = self._conn(parts.netloc, parts.scheme == "https")
            rh = {k: v for k, v in hdrs.items() if same or k != "Authorization"}
            resp = self._send(rconn, method if resp.status != 303 else "GET", target, rh)
            conn = rconn
        wrapped = Response(conn, resp)
        if resp.status not in ok:
            raise self._error(wrapped, method, path)
        return wrapped

    def _error(self, resp: Response, method: str, path: str) -> BerthError:
        text = resp.read(1 << 16)
        resp.close()
        message = ""
        try:
            doc = jsonio.loads(text)
            errs = doc.get("errors") or []
            if errs:
                e0 = errs[0]
                code = str(e0.get("code", "")).lower().replace("_", " ")
                message = f"{code}: {e0.get('message', '')}" if code else str(e0.get("message"))
        except (InvalidArgument, AttributeError):
            message = text[:200].decode(errors="replace").strip()
        where = f"{self.host}: {method} {path}"
        if resp.status in (401, 403):
            return Unauthorized(f"{where}: {message or 'unauthorized'}: authentication required")
        if resp.status == 404:
            return NotFound(message or f"{where}: not found")
        if resp.status >= 500 or resp.status == 429:
            return Unavailable(f"{where}: registry answered {resp.status} {message}".rstrip())
        return InvalidArgument(f"{where}: registry answered {resp.status} {message}".rstrip())

    # -- auth -------------------------------------------------------------------------
    def _auth_header(self, scope: str) -> str | None:
        with self._lock:
            challenge = self._challenge
            token = self._tokens.get(scope)
        if challenge is None:
            return None
        if challenge[0] == "basic" and self.credentials:
            return self.credentials.basic()
        if challenge[0] == "bearer":
            if token is None:
                token = self._fetch_token(challenge[1], scope)
            return f"Bearer {token}" if token else None
        return None

    def _authenticate(self, header: str, scope: str) -> str | None:
        if not header:
            return None
        scheme, params = parse_challenge(header)
        with self._lock:
            self._challenge = (scheme, params)
            self._tokens.pop(scope, None)
        if scheme == "basic":
            if self.credentials is None:
                raise Unauthorized(
                    f"{self.host}: authentication required; log in with `berth login {self.domain}`"
                )
            return self.credentials.basic()
        if scheme == "bearer":
            token = self._fetch_token(params, scope)
            return f"Bearer {token}"
        raise Unauthorized(f"{self.host}: unsupported authentication scheme {scheme!r}")

    def _fetch_token(self, params: dict[str, str], scope: str) -> str:
        realm = params.get("realm")
        if not realm:
            raise Unauthorized(f"{self.host}: bearer challenge without a realm")
        query = {"service": params["service"]} if "service" in params else {}
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        if scope:
            url += f"&scope={urllib.parse.quote(scope, safe=':/,')}"
        parts = urllib.parse.urlsplit(url)
        conn = self._conn(parts.netloc, parts.scheme == "https")
        headers = {"User-Agent": USER_AGENT}
        if self.credentials and self.credentials.username:
            headers["Authorization"] = self.credentials.basic()
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        resp = Response(conn, self._send(conn, "GET", target, headers))
        text = resp.read()
        resp.close()
        if resp.status in (401, 403):
            raise Unauthorized(f"{self.host}: the token server refused the credentials")
        if resp.status != 200:
            raise Unavailable(f"{self.host}: token server answered {resp.status}")
        doc = jsonio.loads(text, "token response")
        token = str(doc.get("token") or doc.get("access_token") or "")
        if not token:
            raise Unauthorized(f"{self.host}: the token server returned no token")
        with self._lock:
            self._tokens[scope] = token
        return token

    def ping(self) -> None:
        """GET /v2/: check that the registry answers and the credentials are accepted."""
        resp = self.request("GET", "/v2/", "", ok=(200,))
        resp.close()

    # -- manifests and blobs ----------------------------------------------------------------
    def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str, str]:
        """(bytes, media type, Docker-Content-Digest or "") of a manifest by tag or digest."""
        scope = f"repository:{repo}:pull"
        try:
            resp = self.request(
                "GET", f"/v2/{repo}/manifests/{ref}", scope, {"Accept": ACCEPT_MANIFESTS}
            )
        except NotFound as e:
            raise NotFound(f"manifest for {repo}:{ref} not found: {e}") from None
        data = resp.read(8 << 20)
        more = resp.read(1)
        resp.close()
        if more:
            raise InvalidArgument(f"manifest for {repo}:{ref} is larger than 8 MiB")
        media = resp.header("Content-Type").split(";")[0].strip()
        return data, media, resp.header("Docker-Content-Digest")

    def head_manifest(self, repo: str, ref: str) -> str | None:
        try:
            resp = self.request(
                "HEAD",
                f"/v2/{repo}/manifests/{ref}",
                f"repository:{repo}:pull",
                {"Accept": ACCEPT_MANIFESTS},
            )
        except NotFound:
            return None
        resp.close()
        return resp.header("Docker-Content-Digest") or None

    def get_blob(self, repo: str, digest: str) -> Response:
        return self.request("GET", f"/v2/{repo}/blobs/{digest}", f"repository:{repo}:pull")

    def blob_exists(self, repo: str, digest: str, scope: str = "") -> bool:
        try:
            resp = self.request(
                "HEAD", f"/v2/{repo}/blobs/{digest}", scope or f"repository:{repo}:pull"
            )
        except NotFound:
            return False
        resp.close()
        return True

    def push_scope(self, repo: str, mount_from: str | None = None) -> str:
        scope = f"repository:{repo}:pull,push"
        if mount_from:
            scope += f" repository:{mount_from}:pull"
        return scope

    def start_upload(
        self, repo: str, digest: str | None = None, mount_from: str | None = None
    ) -> tuple[str | None, bool]:
        """POST an upload; return (location, mounted). Mounts from ``mount_from`` when possible."""
        query = ""
        if mount_from and digest:
            query = "?" + urllib.parse.urlencode({"mount": digest, "from": mount_from})
        resp = self.request(
            "POST",
            f"/v2/{repo}/blobs/uploads/{query}",
            self.push_scope(repo, mount_from),
            ok=(201, 202),
        )
        resp.close()
        if resp.status == 201:
            return None, True
        return self._location(resp), False

    def _location(self, resp: Response) -> str:
        loc = resp.header("Location")
        if not loc:
            raise InvalidArgument(f"{self.host}: upload response without a Location")
        parts = urllib.parse.urlsplit(urllib.parse.urljoin(self.base + "/", loc))
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def upload_monolithic(
        self, repo: str, location: str, digest: str, body: object, size: int
    ) -> None:
        sep = "&" if "?" in location else "?"
        path = f"{location}{sep}digest={urllib.parse.quote(digest)}"
        resp = self.request(
            "PUT",
            path,
            self.push_scope(repo),
            {"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            body,
            ok=(201, 204),
        )
        resp.close()

    def upload_chunk(self, repo: str, location: str, data: bytes, start: int) -> str:
        resp = self.request(
            "PATCH",
            location,
            self.push_scope(repo),
            {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(len(data)),
                "Content-Range": f"{start}-{start + len(data) - 1}",
            },
            data,
            ok=(202,),
        )
        resp.close()
        return self._location(resp)

    def finish_upload(self, repo: str, location: str, digest: str) -> None:
        self.upload_monolithic(repo, location, digest, b"", 0)

    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> str:
        resp = self.request(
            "PUT",
            f"/v2/{repo}/manifests/{ref}",
            self.push_scope(repo),
            {"Content-Type": media_type, "Content-Length": str(len(data))},
            data,
            ok=(201, 200),
        )
        resp.close()
        return resp.header("Docker-Content-Digest")


def retrying(attempts: int = 3, delay: float = 0.5) -> Iterable[int]:
    """Attempt numbers with a growing pause between them (for transient errors)."""
    for i in range(attempts):
        if i:
            time.sleep(delay * (2 ** (i - 1)))
        yield i
