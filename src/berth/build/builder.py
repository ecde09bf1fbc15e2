"""Dockerfile -> image, as Docker's classic builder does it (``docker build``,
``POST /build``).

Each instruction is one step that makes one image on top of the previous one
(its *parent*): RUN runs its command in a container of the previous image and
commits what it changed as a layer; COPY and ADD write their files into such a
container (berth's safe archive extraction) and commit them; WORKDIR makes its
directory the same way when it is missing; the other instructions change only
the image config (an ``empty_layer`` history entry). The history line of each
step is Docker's (``/bin/sh -c #(nop)  ENV A=1``, ``/bin/sh -c make``, ``/bin/sh
-c #(nop) COPY file:<sha256> in /app``), and so is the output: ``Step 2/5 :
RUN make``, `` ---> Running in <id>``, the command's output, `` ---> <id>``,
``Successfully built <id>``, ``Successfully tagged <name>``.

Cache: before a step runs, the children of the current image are searched for
one made by the same step -- the same history line and the same resulting
config (for COPY/ADD the line holds the hash of the sources' contents, for
RUN the build arguments in use, ``|1 V=2 /bin/sh -c ...``). A hit is reused
(`` ---> Using cache``); ``--no-cache`` disables it. The intermediate images
are the cache: they are untagged images with children, which ``images`` hides
unless ``-a`` and ``image prune`` keeps while their children exist.

Stages: ``FROM image AS name`` starts a stage; ``COPY --from=name|index|image``
reads another stage's (or an image's) files; ``--target`` stops after that
stage. ARGs before the first FROM are usable in FROM lines; an ARG in a stage
takes its value from ``--build-arg``, else its default. Base images are pulled
when missing (or always with ``--pull``). ONBUILD triggers of a base image run
right after its FROM. ADD fetches ``http(s)://`` sources in the daemon (mode
0600, the server's Last-Modified; not extracted). Not supported (a clear
error): ADD from git, RUN --mount, heredocs.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from berth.build import context as ctxmod
from berth.errors import BerthError, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator
    from typing import Any

    from berth.build.dockerfile import Instruction
    from berth.engine.containers.fsops import ContainerFS
    from berth.engine.containers.service import ContainerService
    from berth.images.service import ImageService
    from berth.images.store import Image

DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Docker's predefined build arguments: usable without an ARG line, not in history
PREDEFINED = {
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
}  # fmt: skip
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


class BuildOptions:
    __slots__ = (
        "build_args",
        "dockerfile",
        "labels",
        "network",
        "no_cache",
        "pull",
        "quiet",
        "remove",
        "tags",
        "target",
    )

    def __init__(self) -> None:
        self.tags: list[str] = []
        self.dockerfile = "Dockerfile"
        self.build_args: dict[str, str | None] = {}
        self.labels: dict[str, str] = {}
        self.no_cache = False
        self.pull = False
        self.target = ""
        self.quiet = False
        self.remove = True
        self.network = ""


class _Stage:
    """What a stage has made so far."""

    def __init__(self, name: str, index: int) -> None:
        self.name = name
        self.index = index
        self.image: Image | None = None
        self.config: dict[str, Any] = {}
        self.args: dict[str, str | None] = {}  # ARGs declared in the stage (value or None)
        self.used_args: set[str] = set()


class StepError(BerthError):
    """A step failed; ``code`` is Docker's errorDetail code (the RUN's exit code)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _stream(text: str) -> dict[str, Any]:
    return {"stream": text}


class Builder:
    def __init__(
        self,
        images: ImageService,
        containers: ContainerService,
        fs: ContainerFS,
        context_dir: str,
        opts: BuildOptions,
    ) -> None:
        self.images = images
        self.store = images.store
        self.containers = containers
        self.fs = fs
        self.root = context_dir
        self.opts = opts
        self.escape = "\\"
        self.stages: list[_Stage] = []
        self.global_args: dict[str, str | None] = {}
        self.used_build_args: set[str] = set()

    # ---------------------------------------------------------------- the whole build
    def run(self) -> Iterator[dict[str, Any]]:
        """The build's messages (Docker's JSON stream); the last ones name the image."""
        from berth.build.dockerfile import parse

        path = ctxmod.inside(self.root, self.opts.dockerfile)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise InvalidArgument(
                f"Cannot locate specified Dockerfile: {self.opts.dockerfile}"
            ) from None
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidArgument(f"cannot read the Dockerfile {self.opts.dockerfile}: {e}")
        dockerfile = parse(text)
        self.escape = dockerfile.escape
        instructions = self._until_target(dockerfile.instructions)
        total = len(instructions)
        stage: _Stage | None = None
        for n, inst in enumerate(instructions, 1):
            yield _stream(f"Step {n}/{total} : {inst.original}\n")
            if inst.cmd == "from":
                stage = yield from self._from(inst)
            elif stage is None:  # ARG before the first FROM
                self._global_arg(inst)
                continue
            else:
                yield from self._step(stage, inst)
            assert stage is not None
            if stage.image is not None:
                yield _stream(f" ---> {_short(stage.image.id)}\n")
        if stage is None or stage.image is None:
            raise InvalidArgument("No image was generated. Is your Dockerfile empty?")
        unused = sorted(
            k for k in self.opts.build_args if k not in self.used_build_args and k not in PREDEFINED
        )
        if unused:
            yield _stream(
                f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n"
            )
        image_id = stage.image.id
        yield {"aux": {"ID": image_id}}
        yield _stream(f"Successfully built {_short(image_id)}\n")
        from berth.oci import reference

        for tag in self.opts.tags:
            ref = reference.parse(tag)
            self.store.tag(ref, image_id)
            yield _stream(f"Successfully tagged {ref.familiar()}\n")

    def _until_target(self, instructions: list[Instruction]) -> list[Instruction]:
        target = self.opts.target
        if not target:
            return instructions
        out: list[Instruction] = []
        found = False
        for inst in instructions:
            if inst.cmd == "from":
                if found:
                    break
                if _stage_name(inst).lower() == target.lower():
                    found = True
            out.append(inst)
        if not found:
            raise InvalidArgument(f"failed to reach build target {target} in Dockerfile")
        return out

    # ---------------------------------------------------------------- ARG and FROM
    def _arg_env(self, stage: _Stage | None) -> dict[str, str]:
        """What ${X} sees in instructions: the stage's ARGs (with their values) then
        its ENV (ENV wins, as in Docker)."""
        env: dict[str, str] = {}
        scope = stage.args if stage is not None else self.global_args
        for k, v in scope.items():
            if v is not None:
                env[k] = v
        if stage is not None:
            for item in stage.config.get("Env") or []:
                k, _, v = item.partition("=")
                env[k] = v
        return env

    def _global_arg(self, inst: Instruction) -> None:
        from berth.build.dockerfile import arg_decl

        if inst.cmd != "arg":
            raise InvalidArgument(
                f"Dockerfile parse error line {inst.line}: {inst.cmd.upper()} before the"
                " first FROM: only ARG may come before it"
            )
        for name, default in arg_decl(inst, self._arg_env(None)):
            if name in self.opts.build_args:
                self.used_build_args.add(name)
                value = self.opts.build_args[name]
                self.global_args[name] = value if value is not None else default
            else:
                self.global_args[name] = default

    def _from(self, inst: Instruction) -> Generator[dict[str, Any], None, _Stage]:
        from berth.build.dockerfile import expand

        words = inst.args[0].split()
        name = expand(words[0], self._arg_env(None), self.escape)
        if not name:
            raise InvalidArgument(
                f"Dockerfile parse error line {inst.line}: FROM: the base image name is empty"
                " (an ARG without a value?)"
            )
        stage = _Stage(_stage_name(inst), len(self.stages))
        for prev in self.stages:
            if prev.name and prev.name.lower() == name.lower():
                stage.image = prev.image
                stage.config = dict(prev.config)
                break
        else:
            if name.lower() != "scratch":
                stage.image = yield from self._base_image(name)
                stage.config = _container_config(stage.image)
        self.stages.append(stage)
        if stage.image is not None:
            triggers = list(stage.config.get("OnBuild") or [])
            if triggers:
                stage.config["OnBuild"] = None
                yield _stream(
                    f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n"
                )
                from berth.build.dockerfile import parse

                for text in triggers:
                    for trig in parse("FROM scratch\n" + text).instructions[1:]:
                        yield from self._step(stage, trig, trigger=True)
        return stage

    def _base_image(self, name: str) -> Generator[dict[str, Any], None, Image]:
        store = self.store
        if not self.opts.pull:
            try:
                return store.resolve(name)
            except (NotFound, InvalidArgument):
                pass
        yield _stream(
            f"{'Pulling' if self.opts.pull else 'Unable to find image'} {name!r}"
            f"{'' if self.opts.pull else ' locally'}\n"
        )
        try:
            for msg in self.images.pull(name):
                # the pull's lines, without its progress bars ("Pull complete", "Digest:")
                if "status" in msg and not msg.get("progressDetail"):
                    prefix = f"{msg['id']}: " if msg.get("id") else ""
                    yield _stream(f"{prefix}{msg['status']}\n")
        except NotFound as e:
            raise StepError(
                f"pull access denied for {name}, repository does not exist or may require"
                f" 'docker login': {e.message}"
            ) from None
        return store.resolve(name)

    # ---------------------------------------------------------------- one step
    def _step(
        self, stage: _Stage, inst: Instruction, trigger: bool = False
    ) -> Iterator[dict[str, Any]]:
        handler = getattr(self, "_do_" + inst.cmd, None)
        if handler is None:
            raise InvalidArgument(
                f"Dockerfile parse error line {inst.line}: unknown instruction: {inst.cmd.upper()}"
            )
        yield from handler(stage, inst)

    # metadata instructions: config changes, an image each ---------------------------
    @staticmethod
    def _nop(stage: _Stage, text: str) -> str:
        """The history line of a step that runs no command: ``/bin/sh -c #(nop) <text>``."""
        return " ".join([*(stage.config.get("Shell") or DEFAULT_SHELL), "#(nop)"]) + " " + text

    def _meta(self, stage: _Stage, text: str) -> Iterator[dict[str, Any]]:
        """Commit the stage's config as a new image with no layer; cached like any step.
        ``text`` starts with a space: ``/bin/sh -c #(nop)  ENV A=1``, as Docker writes it."""
        yield from self._commit(stage, self._nop(stage, text), upper=None)

    def _do_env(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        from berth.build.dockerfile import key_values

        env = list(stage.config.get("Env") or [])
        shown = []
        for k, v in key_values(inst, self._arg_env(stage), self.escape):
            env = [e for e in env if e.partition("=")[0] != k] + [f"{k}={v}"]
            shown.append(f"{k}={v}")
        stage.config["Env"] = env
        yield from self._meta(stage, " ENV " + " ".join(shown))

    def _do_label(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        from berth.build.dockerfile import key_values

        labels = dict(stage.config.get("Labels") or {})
        shown = []
        for k, v in key_values(inst, self._arg_env(stage), self.escape):
            labels[k] = v
            shown.append(f"{k}={v}")
        stage.config["Labels"] = labels
        yield from self._meta(stage, " LABEL " + " ".join(shown))

    def _do_maintainer(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        stage.config["__author"] = inst.args[0]
        yield from self._meta(stage, " MAINTAINER " + inst.args[0])

    def _do_arg(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        from berth.build.dockerfile import arg_decl

        shown = []
        for name, default in arg_decl(inst, self._arg_env(stage)):
            if name in self.opts.build_args:
                self.used_build_args.add(name)
                given = self.opts.build_args[name]
                value = given if given is not None else default
            elif default is None and name in self.global_args:
                value = self.global_args[name]  # a global ARG re-declared in the stage
            else:
                value = default
            stage.args[name] = value
            shown.append(name if default is None else f"{name}={default}")
        yield from self._meta(stage, " ARG " + " ".join(shown))

    def _exec_or_shell(self, stage: _Stage, inst: Instruction) -> list[str]:
        if inst.json:
            return list(inst.args)
        shell = list(stage.config.get("Shell") or DEFAULT_SHELL)
        return [*shell, inst.args[0]]

    def _do_cmd(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        stage.config["Cmd"] = self._exec_or_shell(stage, inst)
        yield from self._meta(stage, " CMD " + _go_list(stage.config["Cmd"]))

    def _do_entrypoint(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        stage.config["Entrypoint"] = self._exec_or_shell(stage, inst)
        stage.config["Cmd"] = None  # as Docker: a new ENTRYPOINT drops the inherited CMD
        yield from self._meta(stage, " ENTRYPOINT " + _go_list(stage.config["Entrypoint"]))

    def _do_shell(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        if not inst.json or not inst.args:
            raise InvalidArgument(
                f"Dockerfile parse error line {inst.line}: SHELL requires the arguments to be"
                " in JSON form"
            )
        stage.config["Shell"] = list(inst.args)
        yield from self._meta(stage, " SHELL " + _go_list(inst.args))

    def _do_expose(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        from berth.build.dockerfile import words
        from berth.network.portspec import parse_port_range

        ports = dict(stage.config.get("ExposedPorts") or {})
        for item in words(" ".join(inst.args), self._arg_env(stage), self.escape):
            port, _, proto = item.partition("/")
            if proto.lower() not in ("", "tcp", "udp", "sctp"):
                raise InvalidArgument(f"EXPOSE {item}: invalid proto: {proto}")
            try:
                lo, hi = parse_port_range(port)
            except BerthError as e:
                raise InvalidArgument(f"EXPOSE {item}: {e.message}") from None
            for p in range(lo, hi + 1):
                ports[f"{p}/{proto.lower() or 'tcp'}"] = {}
        stage.config["ExposedPorts"] = ports
        yield from self._meta(stage, " EXPOSE " + " ".join(sorted(ports)))

    def _do_volume(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        from berth.build.dockerfile import words

        paths = (
            list(inst.args) if inst.json else words(inst.args[0], self._arg_env(stage), self.escape)
        )
        if not paths or any(not p.strip() for p in paths):
            raise InvalidArgument("VOLUME specified can not be an empty string")
        volumes = dict(stage.config.get("Volumes") or {})
        for p in paths:
            volumes[p] = {}
        stage.config["Volumes"] = volumes
        yield from self._meta(stage, " VOLUME " + _go_list(paths))

    def _do_user(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        from berth.build.dockerfile import expand

        stage.config["User"] = expand(inst.args[0], self._arg_env(stage), self.escape)
        yield from self._meta(stage, " USER " + stage.config["User"])

    def _do_stopsignal(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        from berth.build.dockerfile import expand
        from berth.kernel.consts import parse_signal

        sig = expand(inst.args[0], self._arg_env(stage), self.escape)
        parse_signal(sig)  # an unknown signal is refused now
        stage.config["StopSignal"] = sig
        yield from self._meta(stage, " STOPSIGNAL " + sig)

    def _do_healthcheck(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        from berth import durations
        from berth.engine.containers.health import validate

        if inst.args and inst.args[0].upper() == "NONE" and inst.sub is None:
            stage.config["Healthcheck"] = {"Test": ["NONE"]}
            yield from self._meta(stage, ' HEALTHCHECK &{["NONE"]}')
            return
        sub = inst.sub
        if sub is None:
            raise InvalidArgument(
                f"Dockerfile parse error line {inst.line}: HEALTHCHECK needs CMD or NONE"
            )
        test = ["CMD", *sub.args] if sub.json else ["CMD-SHELL", sub.args[0]]
        hc: dict[str, Any] = {"Test": test}
        for flag, key in (
            ("interval", "Interval"),
            ("timeout", "Timeout"),
            ("start-period", "StartPeriod"),
            ("start-interval", "StartInterval"),
        ):
            if flag in inst.flags:
                hc[key] = durations.parse(inst.flags[flag])
        if "retries" in inst.flags:
            try:
                hc["Retries"] = int(inst.flags["retries"])
            except ValueError:
                raise InvalidArgument(
                    f"HEALTHCHECK --retries: {inst.flags['retries']!r} is not a number"
                ) from None
        validate({"Healthcheck": hc})
        stage.config["Healthcheck"] = hc
        yield from self._meta(stage, " HEALTHCHECK &{" + _go_list(test) + "}")

    def _do_onbuild(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        text = inst.original.split(None, 1)[1] if " " in inst.original else ""
        stage.config["OnBuild"] = [*(stage.config.get("OnBuild") or []), text]
        yield from self._meta(stage, " ONBUILD " + text)

    # WORKDIR: the directory is made when missing ------------------------------------
    def _do_workdir(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        from berth.build.dockerfile import expand

        path = expand(inst.args[0], self._arg_env(stage), self.escape)
        if not path.startswith("/"):
            path = os.path.join(stage.config.get("WorkingDir") or "/", path)
        path = os.path.normpath(path)
        stage.config["WorkingDir"] = path
        created_by = self._nop(stage, f"WORKDIR {path}")
        if stage.image is None:
            yield from self._commit(stage, created_by, upper=None)
            return
        hit = self._cached(stage, created_by)
        if hit is not None:
            yield from self._use(stage, hit)
            return
        with self._container(stage, created_by) as cid:
            missing = self._missing_dirs(cid, path)
            if missing:
                self._put(cid, [], missing, (0, 0), None)
                yield from self._commit(
                    stage, created_by, upper=self._upper(cid), check_cache=False
                )
            else:
                yield from self._commit(stage, created_by, upper=None, check_cache=False)

    # RUN --------------------------------------------------------------------------------
    def _do_run(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        if stage.image is None:
            raise StepError(
                "RUN in a stage FROM scratch: there is no shell to run it in (the"
                " stage has no files yet)"
            )
        for unsupported in ("mount", "security"):
            if unsupported in inst.flags:
                raise InvalidArgument(f"RUN --{unsupported} is not supported by berth's builder")
        cmd = self._exec_or_shell(stage, inst)
        # build args in scope go into the command's environment and its history line
        env = {k.partition("=")[0] for k in stage.config.get("Env") or []}
        args = [f"{k}={v}" for k, v in sorted(stage.args.items()) if v is not None and k not in env]
        args += [
            f"{k}={v}"
            for k, v in sorted(self.opts.build_args.items())
            if k in PREDEFINED and v is not None and k not in stage.args
        ]
        created_by = " ".join(cmd)
        if args:
            created_by = f"|{len(args)} {' '.join(args)} {created_by}"
        hit = self._cached(stage, created_by)
        if hit is not None:
            yield from self._use(stage, hit)
            return
        body = {
            "Cmd": cmd,
            "Entrypoint": [""],
            "Env": [*(stage.config.get("Env") or []), *args],
            "Healthcheck": {"Test": ["NONE"]},
        }
        with self._container(stage, created_by, body) as cid:
            yield _stream(f" ---> Running in {cid[:12]}\n")
            yield from self._run_container(cid)
            yield from self._commit(stage, created_by, upper=self._upper(cid), check_cache=False)
            if self.opts.remove:
                yield _stream(f"Removing intermediate container {cid[:12]}\n")

    def _run_container(self, cid: str) -> Iterator[dict[str, Any]]:
        from berth.api.stdcopy import Demuxer

        svc = self.containers
        svc.start(cid)
        demux = Demuxer()
        for chunk in svc.logs(cid, follow=True):
            if chunk is None:
                continue
            for _stream_no, payload in demux.feed(chunk):
                yield _stream(payload.decode("utf-8", "replace"))
        result = svc.wait(cid, "not-running")
        code = int(result.get("StatusCode", 0))
        if code != 0:
            row = svc.find(cid)
            cmd = list(row.config.get("Cmd") or [])
            shown = " ".join(cmd) if not row.config.get("Entrypoint") else cmd
            raise StepError(f"The command '{shown}' returned a non-zero code: {code}", code)

    # COPY / ADD -----------------------------------------------------------------------
    def _do_copy(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        yield from self._copy(stage, inst, add=False)

    def _do_add(self, stage: _Stage, inst: Instruction) -> Iterator[dict[str, Any]]:
        yield from self._copy(stage, inst, add=True)

    def _copy(self, stage: _Stage, inst: Instruction, add: bool) -> Iterator[dict[str, Any]]:
        import tempfile

        from berth.build.dockerfile import words

        name = "ADD" if add else "COPY"
        for unsupported in ("link", "parents", "exclude", "checksum", "keep-git-dir"):
            if unsupported in inst.flags:
                raise InvalidArgument(f"{name} --{unsupported} is not supported by berth's builder")
        env = self._arg_env(stage)
        items = list(inst.args) if inst.json else words(inst.args[0], env, self.escape)
        if len(items) < 2:
            raise InvalidArgument(
                f"{name} requires at least two arguments, but only one was provided."
                " Destination could not be determined."
            )
        srcs, dest = items[:-1], items[-1]
        urls = [src for src in srcs if src.startswith(("http://", "https://"))] if add else []
        if any(src.startswith("git@") or src.endswith(".git") for src in urls) or (
            add and any(src.startswith("git@") for src in srcs)
        ):
            raise InvalidArgument(f"{name} from a git repository is not supported by berth")
        if urls and "from" in inst.flags:
            raise InvalidArgument(f"{name} --from cannot be used with a URL source")
        workdir = stage.config.get("WorkingDir") or "/"
        dest_abs = dest if dest.startswith("/") else os.path.join(workdir, dest)
        as_dir = dest.endswith("/") or dest.endswith("/.") or dest in (".", "")
        chmod = None
        if "chmod" in inst.flags:
            try:
                chmod = int(inst.flags["chmod"], 8)
            except ValueError:
                raise InvalidArgument(f"invalid chmod parameter: {inst.flags['chmod']!r}") from None
        with tempfile.TemporaryDirectory(
            prefix="build-from-", dir=os.path.dirname(self.root)
        ) as tmp:
            fetched: set[str] = set()
            if "from" in inst.flags:
                root = yield from self._from_stage_files(inst.flags["from"], srcs, tmp)
                paths = ctxmod.sources(root, srcs)
            else:
                local = [src for src in srcs if src not in urls]
                paths = ctxmod.sources(self.root, local) if local else []
                for n, url in enumerate(urls):
                    yield _stream(f"Downloading {url}\n")
                    got = _download(url, os.path.join(tmp, f"url{n}"))
                    fetched.add(got)
                    paths.append(got)
            if len(paths) > 1 and not as_dir:
                raise InvalidArgument(
                    f"When using {name} with more than one source file, the destination must"
                    " be a directory and end with a /"
                )
            chown_text = inst.flags.get("chown", "")
            key = ctxmod.content_key(paths, None, chmod) + (
                f" chown {chown_text}" if chown_text else ""
            )
            created_by = self._nop(stage, f"{name} {key} in {dest_abs} ")
            if stage.image is None:  # FROM scratch: the layer is made without a container
                yield from self._copy_scratch(stage, paths, dest_abs, as_dir, chmod, created_by)
                return
            hit = self._cached(stage, created_by)
            if hit is not None:
                yield from self._use(stage, hit)
                return
            with self._container(stage, created_by) as cid:
                owner = self._owner(cid, chown_text) if chown_text else (0, 0)
                entries: list[tuple[str, str]] = []
                dirs_needed: set[str] = set()
                archives: list[tuple[str, str]] = []
                import stat as stat_mod

                dest_is_dir = as_dir or self._is_dir(cid, dest_abs)
                for p in paths:
                    st = os.lstat(p)
                    if stat_mod.S_ISDIR(st.st_mode):
                        target = dest_abs
                        dirs_needed.add(target)
                    elif (
                        add
                        and "from" not in inst.flags
                        and p not in fetched  # a downloaded archive is copied as it is
                        and p.endswith(ARCHIVE_SUFFIXES)
                        and stat_mod.S_ISREG(st.st_mode)
                    ):
                        archives.append((p, dest_abs))
                        dirs_needed.add(dest_abs)
                        continue
                    elif dest_is_dir:
                        target = os.path.join(dest_abs, os.path.basename(p))
                        dirs_needed.add(dest_abs)
                    else:
                        target = dest_abs
                        dirs_needed.add(os.path.dirname(dest_abs) or "/")
                    entries.append((p, target))
                missing: list[str] = []
                for d in sorted(dirs_needed):
                    for m in self._missing_dirs(cid, d):
                        if m not in missing:
                            missing.append(m)
                missing.sort(key=lambda s: s.count("/"))
                self._put(cid, entries, missing, owner, chmod)
                for archive, target in archives:
                    with open(archive, "rb") as f:
                        self.fs.put_archive(cid, target, _decompressed(f))
                yield from self._commit(
                    stage, created_by, upper=self._upper(cid), check_cache=False
                )

    def _copy_scratch(
        self,
        stage: _Stage,
        paths: list[str],
        dest_abs: str,
        as_dir: bool,
        chmod: int | None,
        created_by: str,
    ) -> Iterator[dict[str, Any]]:
        import stat as stat_mod
        import tempfile

        entries = []
        dirs: set[str] = set()
        for p in paths:
            if stat_mod.S_ISDIR(os.lstat(p).st_mode):
                entries.append((p, dest_abs))
                dirs.add(dest_abs)
            elif as_dir:
                entries.append((p, os.path.join(dest_abs, os.path.basename(p))))
                dirs.add(dest_abs)
            else:
                entries.append((p, dest_abs))
                dirs.add(os.path.dirname(dest_abs))
        missing: list[str] = []
        for d in sorted(dirs):
            parts = [x for x in d.split("/") if x]
            for i in range(1, len(parts) + 1):
                m = "/" + "/".join(parts[:i])
                if m not in missing:
                    missing.append(m)
        missing.sort(key=lambda x: x.count("/"))
        with tempfile.TemporaryDirectory(
            prefix="build-scratch-", dir=os.path.dirname(self.root)
        ) as tmp:
            upper = os.path.join(tmp, "upper")
            os.mkdir(upper)
            with tempfile.TemporaryFile(dir=tmp) as f:
                ctxmod.copy_tar(f, entries, missing, (0, 0), chmod)
                f.seek(0)
                ctxmod.extract(f, upper)
            yield from self._commit(stage, created_by, upper=upper, check_cache=False)

    def _from_stage_files(
        self, ref: str, srcs: list[str], tmp: str
    ) -> Generator[dict[str, Any], None, str]:
        """A directory holding what ``srcs`` name in the stage or image ``ref``."""
        image: Image | None = None
        for st in self.stages:
            if st.name.lower() == ref.lower() or str(st.index) == ref:
                image = st.image
                break
        else:
            image = yield from self._base_image(ref)
        root = os.path.join(tmp, "root")
        os.makedirs(root)
        if image is None:
            return root  # a stage FROM scratch with nothing in it yet
        cid = self._create(image.id, {"Cmd": ["#(nop) COPY --from"]})
        try:
            for pattern in srcs:
                base = pattern.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
                base = base if base.endswith("/") or base == pattern else os.path.dirname(base)
                base = "/" + base.strip("/")
                try:
                    _doc, stream = self.fs.get_archive(cid, base)
                except NotFound:
                    raise InvalidArgument(
                        f"COPY --from={ref}: {pattern}: no such file or directory in that stage"
                    ) from None
                parent = ctxmod.inside(root, os.path.dirname(base.rstrip("/")) or "/")
                os.makedirs(parent, exist_ok=True)
                _extract_stream(stream, parent)
        finally:
            self._remove(cid)
        return root

    # ---------------------------------------------------------------- containers
    def _create(self, image_id: str, extra: dict[str, Any]) -> str:
        body: dict[str, Any] = {"Image": image_id, "Labels": {}, **extra}
        if self.opts.network:
            body["HostConfig"] = {"NetworkMode": self.opts.network}
        answer = self.containers.create(body)
        return str(answer["Id"])

    def _remove(self, cid: str) -> None:
        try:
            self.containers.remove(cid, force=True, volumes=True)
        except BerthError:
            pass

    @contextmanager
    def _container(
        self, stage: _Stage, created_by: str, body: dict[str, Any] | None = None
    ) -> Iterator[str]:
        """A container of the stage's image for one step (``body``: what it runs; none for
        a step that only writes files into it), removed afterwards whatever happens."""
        assert stage.image is not None
        extra = dict(body or {"Cmd": [created_by]})  # never started: the Cmd only names it
        extra.setdefault("Env", list(stage.config.get("Env") or []))
        for key in ("User", "WorkingDir"):
            if stage.config.get(key):
                extra.setdefault(key, stage.config[key])
        cid = self._create(stage.image.id, extra)
        try:
            yield cid
        finally:
            self._remove(cid)

    def _upper(self, cid: str) -> str:
        return os.path.join(self.containers.dir_of(cid), "upper")

    def _is_dir(self, cid: str, path: str) -> bool:
        try:
            doc = self.fs.stat(cid, path)
        except (NotFound, InvalidArgument):
            return False
        return bool(int(doc.get("mode", 0)) & (1 << 31))

    def _missing_dirs(self, cid: str, path: str) -> list[str]:
        """The directories from ``path`` up that do not exist in the container, top first."""
        out: list[str] = []
        p = os.path.normpath(path)
        while p not in ("/", ""):
            try:
                self.fs.stat(cid, p)
                break
            except (NotFound, InvalidArgument):
                out.append(p)
                p = os.path.dirname(p)
        return list(reversed(out))

    def _put(
        self,
        cid: str,
        entries: list[tuple[str, str]],
        missing: list[str],
        owner: tuple[int, int],
        chmod: int | None,
    ) -> None:
        import tempfile

        with tempfile.TemporaryFile(dir=os.path.dirname(self.root)) as f:
            ctxmod.copy_tar(f, entries, missing, owner, chmod)
            f.seek(0)
            self.fs.put_archive(cid, "/", f)

    def _owner(self, cid: str, text: str) -> tuple[int, int]:
        """``--chown=user[:group]`` as numbers, names looked up in the image's files."""
        user, _, group = text.partition(":")
        if user.isdigit() and (not group or group.isdigit()):
            uid = int(user)
            return uid, int(group) if group else uid
        from berth.engine.containers.specgen import user_from_files

        passwd = self._read(cid, "/etc/passwd")
        groups = self._read(cid, "/etc/group")
        try:
            doc = user_from_files(passwd, groups, text, [])
        except BerthError as e:
            raise InvalidArgument(f"COPY --chown={text}: {e.message}") from None
        return int(doc["uid"]), int(doc["gid"])

    def _read(self, cid: str, path: str) -> str:
        import io
        import tarfile

        try:
            _doc, stream = self.fs.get_archive(cid, path)
        except NotFound:
            return ""
        data = b"".join(stream)
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            for m in tf:
                f = tf.extractfile(m)
                if f is not None:
                    return f.read().decode("utf-8", "replace")
        return ""

    # ---------------------------------------------------------------- images and cache
    def _image_config(self, stage: _Stage) -> dict[str, Any]:
        cfg = {k: v for k, v in stage.config.items() if not k.startswith("__")}
        if self.opts.labels and stage.index == len(self.stages) - 1:
            cfg["Labels"] = {**(cfg.get("Labels") or {}), **self.opts.labels}
        if not cfg.get("Env"):
            cfg["Env"] = [DEFAULT_PATH] if stage.image is None else cfg.get("Env")
        return cfg

    def _cached(self, stage: _Stage, created_by: str) -> Image | None:
        if self.opts.no_cache or stage.image is None:
            return None
        from berth import jsonio

        want = jsonio.dumps(_normal(self._image_config(stage)))
        for row in self.store.meta.images():
            if row.get("parent") != stage.image.id:
                continue
            try:
                child = self.store.get(str(row["id"]))
            except BerthError:
                continue
            hist = list(child.config.history or ())
            if not hist or hist[-1].created_by != created_by:
                continue
            if jsonio.dumps(_normal(_container_config(child))) == want:
                return child
        return None

    def _use(self, stage: _Stage, image: Image) -> Iterator[dict[str, Any]]:
        yield _stream(" ---> Using cache\n")
        stage.image = image

    def _commit(
        self, stage: _Stage, created_by: str, upper: str | None, check_cache: bool = True
    ) -> Iterator[dict[str, Any]]:
        from berth.images.compose import make_image, now_rfc3339
        from berth.images.container_fs import commit
        from berth.oci import image_spec as spec

        if check_cache:
            hit = self._cached(stage, created_by)
            if hit is not None:
                yield from self._use(stage, hit)
                return
        cfg = spec.ContainerConfig.from_json(self._image_config(stage), "config")
        author = str(stage.config.get("__author") or "")
        if upper is not None:
            new_id = commit(
                self.store, upper, stage.image, config=cfg, created_by=created_by, author=author
            )
        else:
            base = (
                stage.image.config
                if stage.image is not None
                else spec.ImageConfig(architecture=_arch())
            )
            created = now_rfc3339()
            history = [
                *(base.history or ()),
                spec.History(created=created, created_by=created_by, empty_layer=True),
            ]
            new_config = base.replace(
                created=created, config=cfg, history=tuple(history), author=author or base.author
            )
            layers = list(stage.image.layers) if stage.image is not None else []
            new_id = make_image(
                self.store, layers, new_config, (), parent=stage.image.id if stage.image else ""
            )
        stage.image = self.store.get(new_id)
        return


def _stage_name(inst: Instruction) -> str:
    words = str(inst.args[0]).split()
    if len(words) == 3 and words[1].lower() == "as":
        return words[2]
    return ""


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _container_config(image: Image) -> dict[str, Any]:
    doc: dict[str, Any] = image.container_config.to_json()
    return doc


def _normal(cfg: dict[str, Any]) -> dict[str, Any]:
    """A config with empty values dropped, for comparing two of them."""
    return {k: v for k, v in sorted(cfg.items()) if v not in (None, [], {}, "")}


def _go_list(items: list[str] | tuple[str, ...]) -> str:
    from berth import jsonio

    return "[" + " ".join(jsonio.dumps(str(a)) for a in items) + "]"


def _arch() -> str:
    from berth.images.pull import host_platform

    return host_platform().architecture


def _decompressed(f: Any) -> Any:
    """A local archive for ADD: tar, or tar compressed with gzip, bzip2 or xz."""
    head = f.read(6)
    f.seek(0)
    return ctxmod.decompressed(head, f)


def _download(url: str, into: str, timeout: float = 60.0) -> str:
    """ADD's remote file: fetched by the daemon into ``into``, named after the URL's
    last path part (``index.html`` for none), mode 0600 and the server's
    Last-Modified as its time, as Docker does; returns its path."""
    import email.utils
    import urllib.error
    import urllib.parse
    import urllib.request

    os.makedirs(into, exist_ok=True)
    name = os.path.basename(urllib.parse.urlsplit(url).path) or "index.html"
    path = os.path.join(into, name)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(path, "wb") as f:
            while chunk := resp.read(1 << 20):
                f.write(chunk)
            modified = resp.headers.get("Last-Modified")
    except urllib.error.HTTPError as e:
        raise StepError(f"failed to GET {url} with status {e.code}: {e.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise StepError(f"failed to GET {url}: {reason}") from None
    os.chmod(path, 0o600)
    if modified:
        try:
            when = email.utils.parsedate_to_datetime(modified).timestamp()
            os.utime(path, (when, when))
        except (TypeError, ValueError):
            pass
    return path


def _extract_stream(stream: Iterator[bytes], dest: str) -> None:
    """A tar arriving in chunks (GET archive) into ``dest``, safely."""
    import tempfile

    with tempfile.TemporaryFile(dir=dest) as f:
        for chunk in stream:
            f.write(chunk)
        f.seek(0)
        ctxmod.extract(f, dest)


def build(
    images: ImageService,
    containers: ContainerService,
    fs: ContainerFS,
    body: object,
    opts: BuildOptions,
    workdir: str,
    on_done: Callable[[], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """``POST /build``: extract the context ``body`` under ``workdir``, build, clean up."""
    import shutil
    import tempfile

    os.makedirs(workdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="build-", dir=workdir)
    try:
        ctx = os.path.join(tmp, "context")
        os.mkdir(ctx)
        ctxmod.extract(body, ctx)
        yield from Builder(images, containers, fs, ctx, opts).run()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if on_done is not None:
            on_done()
