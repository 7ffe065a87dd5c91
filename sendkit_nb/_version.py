"""The package's version, in a module of its own so that submodules (the CLI's ``--version``,
the report's footer) can read it without importing the package root, which imports them."""

from __future__ import annotations

__all__ = ["__version__"]

#: Keep equal to ``version`` in pyproject.toml (tests/test_cli.py compares the two).
__version__ = "0.1.0"
