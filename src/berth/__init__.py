"""berth: a Docker-compatible container engine and OCI runtime."""

__version__ = "0.1.0"
