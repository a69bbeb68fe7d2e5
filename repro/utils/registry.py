"""A name-to-object registry, one per extension point.

Methods, advantage estimators, policy losses, aggregation modes, KL estimators, suites and
metrics are each looked up by the name a config gives. Registering a name twice raises,
so a plugin cannot silently replace a built-in. Looking up an unknown name raises an error
that lists the registered names, so a typo in a config is fixed at once.

    POLICY_LOSSES = Registry("policy loss")

    @POLICY_LOSSES.register("clipped")
    def clipped(...): ...

    loss_fn = POLICY_LOSSES.get(config["policy_loss"])
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A name that is not registered. Both ``except KeyError`` and ``except ValueError`` catch it."""

    def __str__(self) -> str:
        # KeyError.__str__ would print the message with quotes around it.
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Map names to objects of one kind (``kind`` is used in error messages, e.g. "policy loss")."""

    def __init__(self, kind: str) -> None:
        if not isinstance(kind, str) or not kind.strip():
            raise ValueError(f"Registry kind must be a non-empty string, got {kind!r}")
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Return a decorator that registers its argument under ``name`` and returns it unchanged.

        Raises ValueError if ``name`` is empty, not a string, or already registered.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._entries:
            raise ValueError(
                f"{self.kind} {name!r} is already registered; choose another name "
                f"(registered: {', '.join(self.names())})"
            )

        def decorator(obj: T) -> T:
            # Checked again here, because the decorator may be applied long after register().
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered; choose another name")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """Return the object registered under ``name``.

        Raises UnknownNameError (a KeyError and a ValueError) that lists the registered names.
        """
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        if not self._entries:
            raise UnknownNameError(f"unknown {self.kind} {name!r}: no {self.kind} is registered yet")
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}; valid names are: {', '.join(self.names())}"
        )

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"
