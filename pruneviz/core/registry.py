"""Name-keyed registries (timm-style ``@register``) for everything a user picks by typing a name.

Model schemes, data schemes and importance criteria are all found by the string a user types in the
CLI, a recipe or the dashboard, so an unknown name is answered with the list of known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from pruneviz.core.errors import PrunevizError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from user-typed names to implementations, with a readable error for typos."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: make ``obj`` findable as ``name``."""

        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._items[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self.names())
            raise PrunevizError(f"unknown {self.kind} '{name}' (choose one of: {known})") from None

    def names(self) -> list[str]:
        """Every name, sorted (for messages and pickers)."""
        return sorted(self._items)

    def registered(self) -> list[str]:
        """Every name in the order it was registered (where that order means something to users)."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items
