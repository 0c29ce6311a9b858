"""The version of mixopt, as the installed package declares it (``pyproject.toml``); the OpenAPI document and
``/version`` report it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("mixopt")
except PackageNotFoundError:  # a source tree that was never installed
    VERSION = "0+unknown"
