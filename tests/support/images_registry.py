"""A real registry for tests: Debian's docker-registry on 127.0.0.1:<free port>.

``LocalRegistry.start(tmpdir)`` writes a config into ``tmpdir``, starts
``/usr/bin/docker-registry serve`` and waits for ``/v2/``; ``stop()`` ends it
by PID and removes its directory. With ``users={"name": "password"}`` it
requires HTTP Basic auth (htpasswd with bcrypt hashes).
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import time
import warnings

BINARY = "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=4096))


class LocalRegistry:
    def __init__(self, directory: str, port: int, proc: subprocess.Popen[bytes]) -> None:
        self.directory = directory
        self.port = port
        self.proc = proc

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(cls, directory: str, users: dict[str, str] | None = None) -> LocalRegistry:
        os.makedirs(directory, exist_ok=True)
        port = free_port()
        auth = ""
        if users:
            htpasswd = os.path.join(directory, "htpasswd")
            with open(htpasswd, "w") as f:
                for user, password in users.items():
                    f.write(f"{user}:{_bcrypt(password)}\n")
            auth = f"auth:\n  htpasswd:\n    realm: berth-test\n    path: {htpasswd}\n"
        config = os.path.join(directory, "config.yml")
        with open(config, "w") as f:
            f.write(
                "version: 0.1\n"
                "log:\n  level: error\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {directory}/data\n"
                "  delete:\n    enabled: true\n"
                f"http:\n  addr: 127.0.0.1:{port}\n" + auth
            )
        log = open(os.path.join(directory, "registry.log"), "wb")
        proc = subprocess.Popen(
            [BINARY, "serve", config],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        reg = cls(directory, port, proc)
        deadline = time.monotonic() + 15
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/v2/")
                status = conn.getresponse().status
                conn.close()
                if status in (200, 401):
                    return reg
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                reg.stop()
                with open(os.path.join(directory, "registry.log"), errors="replace") as f:
                    raise RuntimeError(f"docker-registry did not start: {f.read()[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.directory, ignore_errors=True)
