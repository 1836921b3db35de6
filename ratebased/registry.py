"""An explicit name -> object registry that rejects mistakes (in the spirit of brian2's ``register``).

The one registry mechanism of the project: learning rules, losses, activations and models
(``ratebased``), spiking rules (``spiking``), data sets, attacks and model families (``bridges``)
are each a :class:`Registry`, filled next to the code of each entry. Names are lower-cased;
registering a name twice, or asking for one that does not exist, raises a ``ValueError`` that
lists what exists. An old spelling can be kept for one release with :meth:`Registry.alias`: it
resolves to the new name with a ``DeprecationWarning``. Nothing is discovered through
``__dict__`` and nothing is ``eval``-ed.

``ratebased`` and ``spiking`` never import each other, and the top-level packages are fixed, so
this file exists twice, byte for byte: ``ratebased/registry.py`` and ``spiking/registry.py``
(``tests/test_architecture.py`` checks that they are identical).

Examples
--------
>>> reg = Registry("activation")
>>> reg.register("relu", abs)
<built-in function abs>
>>> reg.get("ReLU") is abs
True
>>> reg.get("gelu")
Traceback (most recent call last):
...
ValueError: unknown activation 'gelu'; valid names: relu
>>> reg.alias("rectifier", "relu")
>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     reg.get("rectifier") is abs
True
>>> str(caught[0].message)
"activation name 'rectifier' is deprecated; use 'relu'"
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["Registry"]


class Registry(Generic[T]):
    """A mapping from lower-case names to objects of one kind.

    Parameters
    ----------
    kind : str
        What the registry holds (``"learning rule"``, ``"activation"``); used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    @staticmethod
    def _normalise(name: str) -> str:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a registry name must be a non-empty string, got {name!r}")
        return name.strip().lower()

    def register(self, name: str, obj: T) -> T:
        """Add ``obj`` under ``name`` and return it; a duplicate name raises ``ValueError``."""
        key = self._normalise(name)
        if key in self._items or key in self._aliases:
            raise ValueError(f"{self.kind} {key!r} is already registered; registered names: {', '.join(self.names())}")
        self._items[key] = obj
        return obj

    def unregister(self, name: str) -> T:
        """Remove ``name`` (and the aliases pointing to it); returns its object."""
        key = self.canonical(name, warn=False)
        for old in [a for a, new in self._aliases.items() if new == key]:
            del self._aliases[old]
        return self._items.pop(key)

    def alias(self, old: str, new: str) -> None:
        """Accept ``old`` as a deprecated spelling of the registered name ``new``."""
        old_key, new_key = self._normalise(old), self.canonical(new, warn=False)
        if old_key in self._items or old_key in self._aliases:
            raise ValueError(
                f"{self.kind} {old_key!r} is already registered; registered names: {', '.join(self.names())}"
            )
        self._aliases[old_key] = new_key

    def canonical(self, name: str, *, warn: bool = True) -> str:
        """The registered spelling of ``name`` (case-insensitive; a deprecated alias warns)."""
        key = self._normalise(name)
        if key in self._items:
            return key
        if key in self._aliases:
            new = self._aliases[key]
            if warn:
                warnings.warn(f"{self.kind} name {key!r} is deprecated; use {new!r}", DeprecationWarning, stacklevel=3)
            return new
        raise ValueError(f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}")

    def get(self, name: str) -> T:
        """Return the object registered as ``name`` (case-insensitive)."""
        return self._items[self.canonical(name)]

    def names(self) -> tuple[str, ...]:
        """Registered names in registration order (aliases excluded)."""
        return tuple(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        """``(name, object)`` pairs in registration order."""
        return iter(tuple(self._items.items()))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.strip().lower()
        return key in self._items or key in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={list(self._items)})"
