"""One result type for every command that works through a list of items.

A bad item is skipped and named, the rest continue; the CLI prints one summary line in one
format for every batch and exits non-zero when anything failed.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BatchResult:
    """``done`` items made now, ``skipped`` items already there, ``failed`` (item, reason) pairs."""

    what: str = "items"
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.done + self.skipped + len(self.failed)

    @property
    def ok(self) -> bool:
        return not self.failed

    def fail(self, item, reason: str) -> None:
        """Record ``item`` as failed; a reason that starts by naming the item (most errors name their
        file) is kept without that name, which the failure line prints once."""
        item, reason = str(item), str(reason)
        while reason.startswith(f"{item}: "):
            reason = reason[len(item) + 2:]
        self.failed.append((item, reason))

    def merge(self, other: "BatchResult") -> "BatchResult":
        return BatchResult(self.what, self.done + other.done, self.skipped + other.skipped,
                           self.failed + other.failed)

    def summary(self) -> str:
        """``12 videos: 9 done, 2 already done, 1 failed`` (the one format every batch prints)."""
        parts = [f"{self.done} done"]
        if self.skipped:
            parts.append(f"{self.skipped} already done")
        parts.append(f"{len(self.failed)} failed")
        return f"{self.total} {self.what}: " + ", ".join(parts)
