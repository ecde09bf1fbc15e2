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
