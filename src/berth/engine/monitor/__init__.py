"""The container monitor ("shim"): one process that watches every running container.

Docker gives each container a containerd-shim (~13 MB RSS), podman a conmon
(~2.5 MB RSS, ~0.38 MB PSS). A Python interpreter per container would cost
more than either. berth instead runs **one** monitor per engine, started by
berthd and outliving it: per container it holds a few descriptors and a few
kilobytes of bookkeeping, so the memory berth keeps per running container is
a small fraction of conmon's.

The monitor is the containers' parent (a child subreaper): it reaps them,
holds their stdio (pipes or the pty master), writes Docker's json-file logs,
serves attach streams, and when a container's process exits records the exit
status on disk (``exit.json``), releases the runtime's resources (cgroup,
runtime state), unmounts the rootfs, and tells berthd. berthd can be killed
and restarted at any time: containers keep running, and the next berthd reads
what happened meanwhile from the monitor and the exit files.

- ``protocol``: the control protocol (JSON lines on ``<exec-root>/shim.sock``)
  and the client berthd uses;
- ``shim``: the monitor process itself (``python -m berth.engine.monitor``);
- ``logfile``: Docker's json-file log format, written and read.
"""
