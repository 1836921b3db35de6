"""Old names kept importable for one release, with a ``DeprecationWarning`` (see CHANGELOG.md).

Examples
--------
>>> import warnings
>>> __getattr__ = renamed_attributes("demo", {"OldName": ("NewName", int)})
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     __getattr__("OldName") is int
True
>>> str(caught[0].message)
'demo.OldName is deprecated; use demo.NewName'
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["renamed_attributes"]


def renamed_attributes(module: str, renamed: Mapping[str, tuple[str, Any]]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``module`` that resolves each old name of ``renamed``
    (``old -> (new name, object)``) with a ``DeprecationWarning`` and raises ``AttributeError``
    for anything else."""

    def __getattr__(name: str) -> Any:
        if name in renamed:
            new, obj = renamed[name]
            warnings.warn(f"{module}.{name} is deprecated; use {module}.{new}", DeprecationWarning, stacklevel=2)
            return obj
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
