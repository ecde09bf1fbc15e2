"""Unpacked layers keyed by chain ID, safe layer apply, overlay mounts as data."""
