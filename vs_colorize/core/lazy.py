"""Lazy package attributes: a package's public names, imported from their modules on first use."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


def lazy_attribute(package: str, table: Mapping[str, str], name: str) -> Any:
    """``name`` from the module ``table[name]`` (absolute, or relative to ``package``), for a package's
    module-level ``__getattr__``; AttributeError for names the table does not list."""
    if name in table:
        return getattr(importlib.import_module(table[name], package), name)
    raise AttributeError(f"module {package!r} has no attribute {name!r}")
