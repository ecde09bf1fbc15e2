"""Fixtures of the network area (registered in tests/conftest.py)."""
