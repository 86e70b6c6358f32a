"""Typed errors raised by the library; the CLI turns each into one line, never a traceback.

Every message names the thing at fault (file, table, key, item) so a user can fix it
without reading code.
"""
from __future__ import annotations


class VcbenchError(Exception):
    """Base class: anything the user can fix by changing input or configuration."""


class ConfigError(VcbenchError):
    """A TOML file, table or key is malformed, unknown or inconsistent."""


class DatasetError(VcbenchError):
    """A dataset tree, list or split file does not match its declared layout."""


class VideoError(VcbenchError):
    """A video file cannot be probed, decoded or encoded."""


class StreamStalled(VideoError):
    """A live source delivered no frame for too long (``vcbench watch`` ends with it, cleanly).
    ``silent_s``: how long it had been silent when this was raised (the stream ended that long ago)."""

    def __init__(self, message: str, silent_s: float = 0.0):
        super().__init__(message)
        self.silent_s = silent_s


class CheckpointError(VcbenchError):
    """A checkpoint is unreadable, unsafe, or does not match the architecture."""


class FaceError(VcbenchError):
    """Face detection/alignment failed for an item (no face, bad model pack...)."""


class EncoderError(VcbenchError):
    """The ffmpeg binary lacks an encoder or an encode failed."""


class NotAvailableError(VcbenchError):
    """A stage or optional dependency is not available in this installation."""


class UnknownNameError(VcbenchError, KeyError):
    """A registry lookup missed; the message carries 'did you mean' suggestions."""

    def __init__(self, kind: str, name: str, choices: list[str], suggestions: list[str]):
        self.kind, self.name, self.choices, self.suggestions = kind, name, choices, suggestions
        msg = f"unknown {kind} {name!r}"
        if suggestions:
            msg += f"; did you mean {' or '.join(repr(s) for s in suggestions)}?"
        elif choices:
            msg += f"; choose from {', '.join(choices)}"
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread where Ctrl-C raises KeyboardInterrupt (see
    :func:`vcbench.runtime.end_on_sigterm`): whatever a command does on Ctrl-C (a watch's summary,
    a run's ``interrupted`` status, temporaries removed) it does on SIGTERM too."""

    how = "terminated (SIGTERM)"


def interruption(e: BaseException) -> str:
    """How a run was stopped, for its summary or last line: Ctrl-C or SIGTERM."""
    return getattr(e, "how", "interrupted (Ctrl-C)")
