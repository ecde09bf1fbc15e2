"""The ``berth`` command tree: names, one-line help, and where each command lives.

Read at every CLI start, so it is data only: nothing here imports a command
module; ``berth.cli.main`` imports the one module the user's command needs.
To add a command, write it (see ``berth.cli.command``) and add one line:

- a management command's subcommand under its group in :data:`MANAGEMENT`
  (``"ls": Cmd("berth.cli.cmd_image:image_ls", "List images", ("list",))``);
- a top-level shortcut in :data:`COMMANDS` pointing at the same function
  (``"images": Cmd("berth.cli.cmd_image:image_ls", "List images")``), as
  Docker has both ``docker image ls`` and ``docker images``.

``raw=True`` marks a command that parses its own arguments (``daemon``):
its target is ``main(argv, prog)``.
"""

from __future__ import annotations


class Cmd:
    __slots__ = ("aliases", "raw", "short", "target")

    def __init__(
        self, target: str, short: str, aliases: tuple[str, ...] = (), raw: bool = False
    ) -> None:
        self.target = target
        self.short = short
        self.aliases = aliases
        self.raw = raw


class Group:
    __slots__ = ("commands", "short")

    def __init__(self, short: str, commands: dict[str, Cmd]) -> None:
        self.short = short
        self.commands = commands

    def find(self, name: str) -> Cmd | None:
        cmd = self.commands.get(name)
        if cmd is not None:
            return cmd
        for c in self.commands.values():
            if name in c.aliases:
                return c
        return None


_SYS = "berth.cli.cmd_system"
_CTR = "berth.cli.cmd_container"
_IMG = "berth.cli.cmd_image"
_EXE = "berth.cli.cmd_exec"
_STA = "berth.cli.cmd_stats"
_OPS = "berth.cli.cmd_ops"
_NET = "berth.cli.cmd_network"
_VOL = "berth.cli.cmd_volume"
_CP = "berth.cli.cmd_cp"

MANAGEMENT: dict[str, Group] = {
    "container": Group(
        "Manage containers",
        {
            "attach": Cmd(
                f"{_EXE}:attach",
                "Attach local standard input, output, and error streams to a running container",
            ),
            "commit": Cmd(f"{_CP}:commit", "Create a new image from a container's changes"),
            "cp": Cmd(
                f"{_CP}:cp", "Copy files/folders between a container and the local filesystem"
            ),
            "create": Cmd(f"{_CTR}:create", "Create a new container"),
            "diff": Cmd(
                f"{_CP}:diff", "Inspect changes to files or directories on a container's filesystem"
            ),
            "exec": Cmd(f"{_EXE}:exec_", "Execute a command in a running container"),
            "export": Cmd(f"{_CP}:export", "Export a container's filesystem as a tar archive"),
            "inspect": Cmd(
                f"{_CTR}:inspect", "Display detailed information on one or more containers"
            ),
            "kill": Cmd(f"{_CTR}:kill", "Kill one or more running containers"),
            "logs": Cmd(f"{_CTR}:logs", "Fetch the logs of a container"),
            "ls": Cmd(f"{_CTR}:ps", "List containers", ("list", "ps")),
            "pause": Cmd(f"{_CTR}:pause", "Pause all processes within one or more containers"),
            "prune": Cmd(f"{_OPS}:container_prune", "Remove all stopped containers"),
            "rename": Cmd(f"{_OPS}:rename", "Rename a container"),
            "port": Cmd(
                f"{_NET}:port", "List port mappings or a specific mapping for the container"
            ),
            "restart": Cmd(f"{_CTR}:restart", "Restart one or more containers"),
            "rm": Cmd(f"{_CTR}:rm", "Remove one or more containers", ("remove",)),
            "run": Cmd(f"{_CTR}:run", "Create and run a new container from an image"),
            "start": Cmd(f"{_CTR}:start", "Start one or more stopped containers"),
            "stats": Cmd(
                f"{_STA}:stats", "Display a live stream of container(s) resource usage statistics"
            ),
            "stop": Cmd(f"{_CTR}:stop", "Stop one or more running containers"),
            "top": Cmd(f"{_STA}:top", "Display the running processes of a container"),
            "unpause": Cmd(
                f"{_CTR}:unpause", "Unpause all processes within one or more containers"
            ),
            "update": Cmd(f"{_OPS}:update", "Update configuration of one or more containers"),
            "wait": Cmd(
                f"{_CTR}:wait",
                "Block until one or more containers stop, then print their exit codes",
            ),
        },
    ),
    "image": Group(
        "Manage images",
        {
            "history": Cmd(f"{_IMG}:history", "Show the history of an image"),
            "import": Cmd(
                f"{_IMG}:import_", "Import the contents from a tarball to create an image"
            ),
            "inspect": Cmd(
                f"{_IMG}:image_inspect", "Display detailed information on one or more images"
            ),
            "load": Cmd(f"{_IMG}:load", "Load an image from a tar archive or STDIN"),
            "ls": Cmd(f"{_IMG}:images", "List images", ("list",)),
            "prune": Cmd(f"{_IMG}:image_prune", "Remove unused images"),
            "pull": Cmd(f"{_IMG}:pull", "Download an image from a registry"),
            "push": Cmd(f"{_IMG}:push", "Upload an image to a registry"),
            "rm": Cmd(f"{_IMG}:rmi", "Remove one or more images", ("remove", "rmi")),
            "save": Cmd(f"{_IMG}:save", "Save one or more images to a tar archive"),
            "tag": Cmd(f"{_IMG}:tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
        },
    ),
    "network": Group(
        "Manage networks",
        {
            "connect": Cmd(f"{_NET}:network_connect", "Connect a container to a network"),
            "create": Cmd(f"{_NET}:network_create", "Create a network"),
            "disconnect": Cmd(
                f"{_NET}:network_disconnect", "Disconnect a container from a network"
            ),
            "inspect": Cmd(
                f"{_NET}:network_inspect", "Display detailed information on one or more networks"
            ),
            "ls": Cmd(f"{_NET}:network_ls", "List networks", ("list",)),
            "prune": Cmd(f"{_NET}:network_prune", "Remove all unused networks"),
            "rm": Cmd(f"{_NET}:network_rm", "Remove one or more networks", ("remove",)),
        },
    ),
    "volume": Group(
        "Manage volumes",
        {
            "create": Cmd(f"{_VOL}:volume_create", "Create a volume"),
            "inspect": Cmd(
                f"{_VOL}:volume_inspect", "Display detailed information on one or more volumes"
            ),
            "ls": Cmd(f"{_VOL}:volume_ls", "List volumes", ("list",)),
            "prune": Cmd(f"{_VOL}:volume_prune", "Remove unused local volumes"),
            "rm": Cmd(f"{_VOL}:volume_rm", "Remove one or more volumes", ("remove",)),
        },
    ),
    "builder": Group(
        "Manage builds",
        {
            "build": Cmd("berth.cli.cmd_build:build", "Build an image from a Dockerfile"),
            "prune": Cmd(f"{_SYS}:builder_prune", "Remove build cache"),
        },
    ),
    "system": Group(
        "Manage berth",
        {
            "df": Cmd(f"{_SYS}:df", "Show berth disk usage"),
            "events": Cmd(f"{_SYS}:events", "Get real time events from the server"),
            "info": Cmd(f"{_SYS}:info", "Display system-wide information"),
            "prune": Cmd(f"{_SYS}:system_prune", "Remove unused data"),
        },
    ),
}

COMMANDS: dict[str, Cmd] = {
    "build": Cmd("berth.cli.cmd_build:build", "Build an image from a Dockerfile"),
    "attach": Cmd(
        f"{_EXE}:attach",
        "Attach local standard input, output, and error streams to a running container",
    ),
    "commit": Cmd(f"{_CP}:commit", "Create a new image from a container's changes"),
    "cp": Cmd(f"{_CP}:cp", "Copy files/folders between a container and the local filesystem"),
    "create": Cmd(f"{_CTR}:create", "Create a new container"),
    "diff": Cmd(
        f"{_CP}:diff", "Inspect changes to files or directories on a container's filesystem"
    ),
    "exec": Cmd(f"{_EXE}:exec_", "Execute a command in a running container"),
    "export": Cmd(f"{_CP}:export", "Export a container's filesystem as a tar archive"),
    "inspect": Cmd(f"{_CTR}:inspect", "Return low-level information on Docker objects"),
    "kill": Cmd(f"{_CTR}:kill", "Kill one or more running containers"),
    "logs": Cmd(f"{_CTR}:logs", "Fetch the logs of a container"),
    "pause": Cmd(f"{_CTR}:pause", "Pause all processes within one or more containers"),
    "port": Cmd(f"{_NET}:port", "List port mappings or a specific mapping for the container"),
    "ps": Cmd(f"{_CTR}:ps", "List containers"),
    "rename": Cmd(f"{_OPS}:rename", "Rename a container"),
    "restart": Cmd(f"{_CTR}:restart", "Restart one or more containers"),
    "rm": Cmd(f"{_CTR}:rm", "Remove one or more containers"),
    "run": Cmd(f"{_CTR}:run", "Create and run a new container from an image"),
    "start": Cmd(f"{_CTR}:start", "Start one or more stopped containers"),
    "stats": Cmd(
        f"{_STA}:stats", "Display a live stream of container(s) resource usage statistics"
    ),
    "stop": Cmd(f"{_CTR}:stop", "Stop one or more running containers"),
    "top": Cmd(f"{_STA}:top", "Display the running processes of a container"),
    "unpause": Cmd(f"{_CTR}:unpause", "Unpause all processes within one or more containers"),
    "update": Cmd(f"{_OPS}:update", "Update configuration of one or more containers"),
    "wait": Cmd(
        f"{_CTR}:wait", "Block until one or more containers stop, then print their exit codes"
    ),
    "history": Cmd(f"{_IMG}:history", "Show the history of an image"),
    "images": Cmd(f"{_IMG}:images", "List images"),
    "import": Cmd(f"{_IMG}:import_", "Import the contents from a tarball to create an image"),
    "load": Cmd(f"{_IMG}:load", "Load an image from a tar archive or STDIN"),
    "login": Cmd(f"{_IMG}:login", "Log in to a registry"),
    "logout": Cmd(f"{_IMG}:logout", "Log out from a registry"),
    "pull": Cmd(f"{_IMG}:pull", "Download an image from a registry"),
    "push": Cmd(f"{_IMG}:push", "Upload an image to a registry"),
    "rmi": Cmd(f"{_IMG}:rmi", "Remove one or more images"),
    "save": Cmd(f"{_IMG}:save", "Save one or more images to a tar archive"),
    "tag": Cmd(f"{_IMG}:tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "daemon": Cmd(
        "berth.cli.daemon:main", "Run the berth daemon (berthd) in the foreground", raw=True
    ),
    "events": Cmd(f"{_SYS}:events", "Get real time events from the server"),
    "info": Cmd(f"{_SYS}:info", "Display system-wide information"),
    "version": Cmd(f"{_SYS}:version", "Show the berth version information"),
}
