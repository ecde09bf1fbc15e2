"""Volumes: named and anonymous data directories, and the mounts of containers.

Vocabulary
----------

- A **volume** is a directory berth keeps for data that outlives containers:
  ``<root>/volumes/<name>/_data`` (driver ``local``), with metadata in
  ``berth.db`` (component ``volumes``: name, driver, labels, options, created,
  anonymous). Names are Docker's: ``[a-zA-Z0-9][a-zA-Z0-9_.-]+``.
- An **anonymous** volume has a random 64-hex name and the label
  ``com.docker.volume.anonymous`` (as Docker >= 23 marks them): the image's
  ``VOLUME`` entries, ``-v /ctr``, ``--mount type=volume`` without a source.
  ``rm -v`` (and ``--rm``) removes a container's anonymous volumes;
  ``volume prune`` removes only unused anonymous volumes unless
  ``all=true`` (API >= 1.42: Docker 23+'s behaviour; older API versions
  prune every unused volume, as Docker 20.10 did).
- A **mount point** (:class:`berth.engine.volumes.mountspec.MountPoint`) is
  one mount of one container: a bind of a host path, a volume, or a tmpfs,
  from ``HostConfig.Binds`` (``-v``), ``HostConfig.Mounts`` (``--mount``),
  ``Config.Volumes`` (``-v /ctr`` and the image's ``VOLUME``) and
  ``HostConfig.VolumesFrom``. Planning them is pure (``mountspec``);
  the service creates volumes and turns mount points into OCI mounts.

Lifecycle (what the container service calls, see ``service``)
---------------------------------------------------------------

``prepare(row, image)`` at create: plan the mount points, create the
volumes they name (on demand), copy the image's content at a volume's
destination into it when it is empty (unless ``nocopy``), record the plan in
``row.extra["mount_points"]`` and return Docker's ``Mounts`` list.
``oci_mounts(row)`` at start: the OCI mount entries (bind host dirs of
``-v`` are created when missing, as Docker does). ``release(row,
remove_anonymous)`` at rm. A volume is *in use* while a container (any
state) mounts it: it can then be neither removed nor pruned.

Nothing here mounts anything on the host: volumes reach containers as
bind mounts in their own mount namespaces, and the copy of image content
happens in a thread with a private mount namespace.
"""
