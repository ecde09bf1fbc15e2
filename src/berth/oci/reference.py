"""Image references, parsed and normalised as Docker does.

Grammar (distribution/reference)::

    reference := name [ ":" tag ] [ "@" digest ]
    name      := [ domain "/" ] path-component ( "/" path-component )*
    domain    := host [ ":" port ]          (has "." or ":", or is "localhost")
    component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag       := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}

Normalisation: no domain means ``docker.io``; ``index.docker.io`` is
``docker.io``; a one-component path on ``docker.io`` gets ``library/``; no
tag and no digest means ``:latest``. ``familiar`` gives the short form Docker
prints (``busybox:latest``, ``127.0.0.1:5000/app:1``).

No ``re`` here: references are parsed on the container start path.
"""

from __future__ import annotations

from berth.errors import InvalidArgument
from berth.oci.digest import Digest, is_digest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255

_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_TAG_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_TAG_REST = _TAG_FIRST | frozenset(".-")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
_HEX = frozenset("0123456789abcdef")


class Reference:
    """A normalised reference: ``domain``, ``path``, ``tag`` and/or ``digest``."""

    __slots__ = ("digest", "domain", "path", "tag")

    def __init__(self, domain: str, path: str, tag: str | None, digest: Digest | None) -> None:
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest

    @property
    def name(self) -> str:
        """The full repository name: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository as Docker prints it: ``busybox``, ``user/app``, ``host:5000/app``."""
        if self.domain == DEFAULT_DOMAIN:
            return self.path.removeprefix(OFFICIAL_PREFIX)
        return self.name

    def __str__(self) -> str:
        out = self.name
        if self.tag is not None:
            out += ":" + self.tag
        if self.digest is not None:
            out += "@" + self.digest
        return out

    def familiar(self) -> str:
        out = self.familiar_name
        if self.tag is not None:
            out += ":" + self.tag
        if self.digest is not None:
            out += "@" + self.digest
        return out

    def __repr__(self) -> str:
        return f"Reference({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reference) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def with_tag(self, tag: str) -> Reference:
        _check_tag(tag, tag)
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, None, Digest.parse(digest))


def _check_component(comp: str, text: str) -> None:
    if not comp:
        raise InvalidArgument(f"invalid reference format: {text!r} has an empty path component")
    if comp[0] not in _LOWER_ALNUM or comp[-1] not in _LOWER_ALNUM:
        _bad_component(comp, text)
    i, n = 0, len(comp)
    while i < n:
        ch = comp[i]
        if ch in _LOWER_ALNUM:
            i += 1
            continue
        # a separator: ".", "_", "__" or one or more "-"
        j = i
        if ch == "-":
            while j < n and comp[j] == "-":
                j += 1
        elif ch == "_":
            j = i + 2 if comp.startswith("__", i) else i + 1
        elif ch == ".":
            j = i + 1
        else:
            _bad_component(comp, text)
        if j >= n or comp[j] not in _LOWER_ALNUM:
            _bad_component(comp, text)
        i = j


def _bad_component(comp: str, text: str) -> None:
    if comp.lower() != comp:
        raise InvalidArgument(
            f"invalid reference format: repository name ({comp}) must be lowercase"
        )
    raise InvalidArgument(f"invalid reference format: {text!r}")


def _check_tag(tag: str, text: str) -> None:
    if not tag or len(tag) > 128 or tag[0] not in _TAG_FIRST or not _TAG_REST.issuperset(tag):
        raise InvalidArgument(f"invalid reference format: {text!r} has an invalid tag {tag!r}")


def _check_domain(domain: str, text: str) -> None:
    host, _, port = domain.partition(":")
    if domain.startswith("["):  # IPv6 literal: [::1]:5000
        close = domain.find("]")
        if close < 0:
            raise InvalidArgument(f"invalid reference format: {text!r}")
        port = domain[close + 2 :] if domain[close + 1 : close + 2] == ":" else ""
        if domain[close + 1 :] and not port:
            raise InvalidArgument(f"invalid reference format: {text!r}")
    else:
        if not host or not _HOST_CHARS.issuperset(host):
            raise InvalidArgument(f"invalid reference format: {text!r} has an invalid registry")
        for label in host.split("."):
            if not label or label[0] == "-" or label[-1] == "-":
                raise InvalidArgument(f"invalid reference format: {text!r} has an invalid host")
    if ":" in domain and not domain.startswith("[") and not port.isdigit():
        raise InvalidArgument(f"invalid reference format: {text!r} has an invalid port")


def split_domain(name: str) -> tuple[str, str]:
    """(domain, path) the way Docker splits a name; the domain may be defaulted."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return domain, path


def parse(text: str, default_tag: bool = True) -> Reference:
    """Parse and normalise ``text``; raise InvalidArgument with Docker's wording.

    ``default_tag=False`` leaves ``tag`` None when the text has neither tag
    nor digest (``docker push NAME`` pushes every tag, ``docker images NAME``).
    """
    if not text:
        raise InvalidArgument("invalid reference format: an empty string is not a reference")
    if len(text) == 64 and _HEX.issuperset(text):
        raise InvalidArgument(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    name, at, digest_text = text.partition("@")
    digest: Digest | None = None
    if at:
        if not is_digest(digest_text):
            raise InvalidArgument(
                f"invalid reference format: {text!r} has an invalid digest {digest_text!r}"
            )
        digest = Digest(digest_text)
    tag: str | None = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        _check_tag(tag, text)
    if not name:
        raise InvalidArgument(f"invalid reference format: {text!r}")
    domain, path = split_domain(name)
    if path not in (name, OFFICIAL_PREFIX + name):  # the name had an explicit domain
        _check_domain(name.partition("/")[0], text)
    for comp in path.split("/"):
        _check_component(comp, text)
    if len(domain) + 1 + len(path) > NAME_MAX:
        raise InvalidArgument(
            f"invalid reference format: repository name must not be more than {NAME_MAX} characters"
        )
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def try_parse(text: str) -> Reference | None:
    try:
        return parse(text)
    except InvalidArgument:
        return None
