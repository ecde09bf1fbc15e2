"""What an install of berth (not only the source tree) holds."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]


def test_every_directory_of_modules_is_a_package_the_build_finds() -> None:
    # pyproject.toml has setuptools find the packages (directories with an
    # __init__.py): a directory without one would be left out of a wheel, and with
    # it the console scripts' modules (berth.cli) or the runtime (berth.runtime)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    where = config["tool"]["setuptools"]["packages"]["find"]["where"]
    assert where == ["src"]
    found = set(find_packages(str(ROOT / "src")))
    src = ROOT / "src"
    with_modules = {
        ".".join(p.parent.relative_to(src).parts)
        for p in (src / "berth").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert with_modules - found == set()
    for script in config["project"]["scripts"].values():
        module = script.partition(":")[0]
        assert module.rpartition(".")[0] in found
