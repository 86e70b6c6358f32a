"""One registry class for detectors, face backends, swappers, dataset kinds and presets.

Entries can be registered lazily as ``"module:attr"`` strings so that listing names
(``vcbench --help``, ``vcbench doctor``) never imports torch, cv2 or mediapipe.
"""
from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any, Generic, Iterator, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")


@dataclass
class Entry(Generic[T]):
    name: str
    target: T | str
    help: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def load(self) -> T:
        self.target = resolve_target(self.target)
        return self.target  # type: ignore[return-value]


def resolve_target(target: Any) -> Any:
    """A lazy ``"module:attr"`` target imported (anything else as it is)."""
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)
    return target


class Registry(Generic[T]):
    """Name -> object map; misses answer with the closest names.

    ``base_cls`` (a class or a lazy ``"module:attr"``) makes the registry hold only its subclasses:
    a wrong entry is refused when registered (or, when lazy, when first loaded), naming it."""

    def __init__(self, kind: str, base_cls: type | str | None = None):
        self.kind = kind
        self.base_cls = base_cls
        self._entries: dict[str, Entry[T]] = {}

    def _check(self, name: str, obj: Any) -> None:
        if self.base_cls is None or isinstance(obj, str):
            return
        base = self.base_cls = resolve_target(self.base_cls)
        if not (isinstance(obj, type) and issubclass(obj, base)):
            raise TypeError(f"{self.kind} {name!r}: {obj!r} is not a subclass of {base.__module__}.{base.__qualname__}")

    def register(self, name: str, target: T | str | None = None, *, help: str = "", **meta: Any):
        """Register ``target`` under ``name``; without a target, act as a decorator."""
        if target is None:
            def deco(obj: T) -> T:
                self.register(name, obj, help=help, **meta)
                return obj
            return deco
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._check(name, target)
        self._entries[name] = Entry(name, target, help, meta)
        return target

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names(), suggest(name, self.names())) from None

    def get(self, name: str) -> T:
        entry = self.entry(name)
        obj = entry.load()
        self._check(name, obj)
        return obj

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[n] for n in self.names())


def suggest(name: str, choices: list[str], n: int = 3) -> list[str]:
    """Closest choices to ``name`` (difflib ratio >= 0.5, substring matches first)."""
    subs = [c for c in choices if name and (name.lower() in c.lower() or c.lower() in name.lower())]
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    out: list[str] = []
    for c in subs + close:
        if c not in out:
            out.append(c)
    return out[:n]


def lookup(kind: str, name: str, mapping: dict[str, Any] | list[str]) -> Any:
    """Look a name up in a plain dict/list with the registry's 'did you mean' error."""
    choices = sorted(mapping)
    if name not in mapping:
        raise UnknownNameError(kind, name, choices, suggest(name, choices))
    return mapping[name] if isinstance(mapping, dict) else name
