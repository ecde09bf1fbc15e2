"""The OCI runtime: an OCI bundle made into an isolated process (``create``,
``init``, ``run``, ``lifecycle``), as ``berth-runtime`` and the engine's monitor use it."""
