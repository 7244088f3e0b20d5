"""Packages: every ``bench*`` package found on disk, plus ``bench.suites``, which lives in
``suites/`` beside the package (see ``[tool.setuptools.package-dir]`` in pyproject.toml).
Everything else about the project is in pyproject.toml."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["bench", "bench.*"]), "bench.suites"])
