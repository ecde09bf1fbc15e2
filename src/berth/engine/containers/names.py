"""Container names: Docker's rules for given names, and generated ones (``adjective_noun``)."""

from __future__ import annotations

import os

from berth.errors import InvalidArgument

_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_REST = _FIRST | frozenset("_.-")

ADJECTIVES = (
    "agile",
    "bold",
    "brave",
    "bright",
    "calm",
    "clever",
    "cosy",
    "crisp",
    "daring",
    "eager",
    "fair",
    "fond",
    "gentle",
    "glad",
    "happy",
    "hardy",
    "jolly",
    "keen",
    "kind",
    "lively",
    "lucid",
    "merry",
    "modest",
    "neat",
    "nimble",
    "noble",
    "plucky",
    "proud",
    "quick",
    "quiet",
    "rapid",
    "sharp",
    "shy",
    "sleek",
    "smart",
    "snug",
    "steady",
    "sturdy",
    "swift",
    "tidy",
    "trusty",
    "upbeat",
    "vivid",
    "warm",
    "wise",
    "witty",
    "zany",
    "zesty",
)
NOUNS = (
    "anchor",
    "bay",
    "beacon",
    "berth",
    "bollard",
    "buoy",
    "cabin",
    "canal",
    "cargo",
    "compass",
    "crane",
    "current",
    "deck",
    "dock",
    "estuary",
    "ferry",
    "fjord",
    "galley",
    "harbor",
    "hatch",
    "helm",
    "hull",
    "inlet",
    "jetty",
    "keel",
    "lagoon",
    "lock",
    "mast",
    "mooring",
    "oar",
    "pier",
    "port",
    "quay",
    "reef",
    "rudder",
    "sail",
    "schooner",
    "shoal",
    "skiff",
    "slip",
    "sound",
    "spar",
    "stern",
    "tide",
    "tug",
    "wharf",
    "wake",
    "yard",
)


def check(name: str) -> str:
    """A user-given name without its leading "/", or InvalidArgument (Docker's wording)."""
    bare = name[1:] if name.startswith("/") else name
    if not bare or bare[0] not in _FIRST or not set(bare) <= _REST:
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return bare


def generate(taken: set[str] | frozenset[str], retries: int = 20) -> str:
    for i in range(retries):
        a = ADJECTIVES[int.from_bytes(os.urandom(2), "big") % len(ADJECTIVES)]
        n = NOUNS[int.from_bytes(os.urandom(2), "big") % len(NOUNS)]
        name = f"{a}_{n}" if i == 0 else f"{a}_{n}{int.from_bytes(os.urandom(1), 'big') % 10}"
        if name not in taken:
            return name
    return f"container_{os.urandom(6).hex()}"
