"""A static probe program for containers, and an image that holds it (``probe:latest``).

busybox has no applet for some things the security tests must try from inside
a container (``keyctl``, a raw ``unshare``, counting zombies), so this module
compiles a tiny static C program with the host's gcc (cached in
``.cache/lifecycle/``, keyed by the source) and makes a one-file image of it::

    /probe keyctl         -> "keyctl EPERM" / "keyctl ok"
    /probe unshare-user   -> unshare(CLONE_NEWUSER)
    /probe unshare-mount  -> unshare(CLONE_NEWNS)
    /probe mount          -> mount a tmpfs on /tmp
    /probe orphan         -> leave an orphan that exits after 0.1 s, wait 0.5 s,
                             print "zombies N" (zombies visible in the container:
                             the orphan's, unless PID 1 reaps it)
    /probe sleep SECONDS  -> sleep, ignoring nothing (a PID 1 that never reaps)

Each prints one line: the operation, then ``ok`` or the errno's name.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "lifecycle"

SOURCE = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int report(const char *what, long r) {
    if (r < 0)
        printf("%s %s\n", what, strerrorname_np(errno));
    else
        printf("%s ok\n", what);
    fflush(stdout);
    return 0;
}

static int zombies(void) {
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], buf[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        char *p = strrchr(buf, ')');
        if (p && p[1] == ' ' && p[2] == 'Z') n++;
    }
    if (d) closedir(d);
    return n;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "keyctl"))
        return report(what, syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0));
    if (!strcmp(what, "unshare-user"))
        return report(what, unshare(CLONE_NEWUSER));
    if (!strcmp(what, "unshare-mount"))
        return report(what, unshare(CLONE_NEWNS));
    if (!strcmp(what, "mount"))
        return report(what, mount("none", "/tmp", "tmpfs", 0, NULL));
    if (!strcmp(what, "orphan")) {
        pid_t child = fork();
        if (child == 0) {
            if (fork() == 0) { usleep(100000); _exit(0); }
            _exit(0);
        }
        waitpid(child, NULL, 0); /* our own child: reaped; its child is an orphan now */
        usleep(500000);
        printf("zombies %d\n", zombies());
        fflush(stdout);
        return 0;
    }
    if (!strcmp(what, "sleep") && argc > 2) {
        sleep(atoi(argv[2]));
        return 0;
    }
    fprintf(stderr, "usage: probe keyctl|unshare-user|unshare-mount|mount|orphan|sleep N\n");
    return 2;
}
"""


def probe_binary() -> Path:
    """The compiled probe (built once per source version)."""
    digest = hashlib.sha256(SOURCE.encode()).hexdigest()[:16]
    out = CACHE / f"probe-{digest}"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    src = CACHE / f"probe-{digest}.c"
    src.write_text(SOURCE)
    tmp = out.with_suffix(".tmp")
    subprocess.run(["gcc", "-static", "-O1", "-o", str(tmp), str(src)], check=True)
    os.replace(tmp, out)
    return out


def probe_image_tar() -> bytes:
    """A rootfs tarball with /probe (and the empty directories a container mounts on)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("dev", "proc", "sys", "tmp", "etc"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        data = probe_binary().read_bytes()
        info = tarfile.TarInfo("probe")
        info.size = len(data)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
