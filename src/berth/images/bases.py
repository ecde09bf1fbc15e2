"""Base root filesystems made from this machine's own Debian packages.

No downloads: ``busybox_rootfs`` lays out Debian's statically linked busybox
(package busybox-static) the way ``busybox --install -s`` would inside an
image, with a minimal /etc. It is the rootfs of berth's ``busybox:latest``
and of the test bundles.
"""

from __future__ import annotations

import os
import shutil
import subprocess

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

BUSYBOX = "/bin/busybox"
DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "root", "tmp", "var")
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
GROUP = "root:x:0:\nnobody:x:65534:\n"


def busybox_applets(busybox: str = BUSYBOX) -> list[str]:
    """Paths (relative, e.g. ``usr/bin/env``) of every applet busybox provides."""
    out = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def busybox_rootfs(dest: str, busybox: str = BUSYBOX) -> str:
    """Populate ``dest`` (created, must be empty or absent) with a busybox rootfs."""
    if not os.access(busybox, os.X_OK):
        raise FileNotFoundError(
            f"{busybox} not found: install Debian's busybox-static (apt-get install busybox-static)"
        )
    os.makedirs(dest, exist_ok=True)
    for d in DIRS:
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    os.chmod(os.path.join(dest, "root"), 0o700)
    shutil.copy2(busybox, os.path.join(dest, "bin/busybox"))
    for app in busybox_applets(busybox):
        if app == "bin/busybox":
            continue
        link = os.path.join(dest, app)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if not os.path.lexists(link):
            os.symlink("/bin/busybox", link)
    for name, text in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
        with open(os.path.join(dest, name), "w") as f:
            f.write(text)
    return dest


# -- base images -------------------------------------------------------------------------
DEBIAN_MIRROR = "http://deb.debian.org/debian"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def debootstrap_rootfs(
    dest: str,
    suite: str = "bookworm",
    include: tuple[str, ...] = (),
    mirror: str = DEBIAN_MIRROR,
) -> str:
    """A Debian ``--variant=minbase`` rootfs in ``dest`` (tens of seconds; cache it)."""
    if not os.access("/usr/sbin/debootstrap", os.X_OK):
        raise FileNotFoundError("debootstrap not found: apt-get install debootstrap")
    cmd = ["/usr/sbin/debootstrap", "--variant=minbase"]
    if include:
        cmd.append("--include=" + ",".join(include))
    cmd += [suite, dest, mirror]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    slim_rootfs(dest)
    return dest


def slim_rootfs(dest: str) -> None:
    """Drop what a -slim image drops: apt lists, caches, man pages, docs, logs."""
    for rel in (
        "var/lib/apt/lists",
        "var/cache/apt/archives",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/info",
        "var/log",
    ):
        path = os.path.join(dest, rel)
        if os.path.isdir(path):
            for name in os.listdir(path):
                p = os.path.join(path, name)
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                elif name not in ("lock", "partial"):
                    os.unlink(p)
    for rel in ("var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin"):
        try:
            os.unlink(os.path.join(dest, rel))
        except FileNotFoundError:
            pass


def base_config(kind: str) -> dict[str, object]:
    """The image config (Docker JSON) of a base image kind."""
    env = [PATH_ENV]
    cmd = ["sh"] if kind == "busybox" else ["bash"]
    if kind == "python":
        env += ["LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"]
        cmd = ["python3"]
    return {"Env": env, "Cmd": cmd}


def split_by_prefixes(prefixes: list[str]) -> list[Callable[[str], bool]]:
    """Entry selectors: one layer per prefix (with its parent dirs), then the rest."""

    def under(rel: str, prefix: str) -> bool:
        return rel == prefix or rel.startswith(prefix + "/")

    def parent_of(rel: str, prefix: str) -> bool:
        return prefix.startswith(rel + "/")

    def layer(prefix: str) -> Callable[[str], bool]:
        return lambda rel: under(rel, prefix) or parent_of(rel, prefix)

    def rest(rel: str) -> bool:
        return not any(under(rel, p) for p in prefixes)

    return [rest, *[layer(p) for p in prefixes]]


def image_from_rootfs(
    store: object,
    rootfs: str,
    names: list[str],
    kind: str,
    created_by: str,
    split: list[str] | None = None,
    level: int = 6,
) -> str:
    """Make image ``names`` from a rootfs directory; return its ID.

    One layer, or with ``split`` (path prefixes such as ``usr/lib``) one layer
    for the rest of the tree followed by one per prefix.
    """
    from berth.images.compose import make_image, now_rfc3339
    from berth.images.layers import store_layer
    from berth.images.store import ImageStore
    from berth.oci import image_spec as spec
    from berth.oci import reference

    assert isinstance(store, ImageStore)
    selectors = split_by_prefixes(split) if split else [None]
    layers = [store_layer(store, rootfs, keep=keep, level=level) for keep in selectors]
    created = now_rfc3339()
    config = spec.ImageConfig(
        architecture=_arch(),
        os="linux",
        created=created,
        config=spec.ContainerConfig.from_json(base_config(kind)),
        history=(
            *(spec.History(created=created, created_by=created_by) for _ in layers),
            spec.History(
                created=created,
                created_by=f"/bin/sh -c #(nop)  CMD {_go_quoted(base_config(kind)['Cmd'])}",
                empty_layer=True,
            ),
        ),
    )
    refs = [reference.parse(n) for n in names]
    return make_image(store, layers, config, refs)


def _arch() -> str:
    from berth.images.pull import host_platform

    return host_platform().architecture


def _json(value: object) -> str:
    from berth import jsonio

    return jsonio.dumps(value)


def _go_quoted(args: object) -> str:
    """A command as Docker's classic builder writes it in history: ``["sh" "-c" "x"]``
    (Go's %q of a string slice; JSON string quoting is the same for these)."""
    from berth import jsonio

    items = args if isinstance(args, list) else [args]
    return "[" + " ".join(jsonio.dumps(str(a)) for a in items) + "]"
