"""An explicit name -> object registry that rejects mistakes (in the spirit of brian2's ``register``).

Names are lower-cased; registering a name twice, or asking for one that does not exist, raises a
``ValueError`` that lists what exists. Nothing is discovered through ``__dict__`` and nothing is
``eval``-ed.

Examples
--------
>>> reg = Registry("activation")
>>> reg.register("relu", abs)
>>> reg.get("ReLU") is abs
True
>>> reg.get("gelu")
Traceback (most recent call last):
...
ValueError: unknown activation 'gelu'; valid names: relu
"""
from __future__ import annotations

from typing import Generic, Iterator, TypeVar

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

    @staticmethod
    def _normalise(name: str) -> str:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a registry name must be a non-empty string, got {name!r}")
        return name.strip().lower()

    def register(self, name: str, obj: T) -> T:
        """Add ``obj`` under ``name``; a duplicate name raises ``ValueError``."""
        key = self._normalise(name)
        if key in self._items:
            raise ValueError(
                f"{self.kind} {key!r} is already registered; registered names: {', '.join(self.names())}"
            )
        self._items[key] = obj
        return obj

    def get(self, name: str) -> T:
        """Return the object registered as ``name`` (case-insensitive)."""
        key = self._normalise(name)
        try:
            return self._items[key]
        except KeyError:
            raise ValueError(
                f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}"
            ) from None

    def names(self) -> tuple[str, ...]:
        """Registered names in registration order."""
        return tuple(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={list(self._items)})"
