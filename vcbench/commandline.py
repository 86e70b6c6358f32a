"""Click options generated from the config dataclasses' fields (``config.option``): a stage's
default and help are written once, beside the field, and the option, the TOML key and run files'
config records all come from it. Only the options a user sets are passed on
(:func:`given_options`), so precedence stays defaults < ``--config`` file < flags."""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Callable

import click

from .config import unoptional

CONFIG_OPTION = click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                             help="TOML with the same keys as these options (flags win).")


def _click_type(tp: Any, meta: dict) -> tuple[Any, bool]:
    """(click type, whether the field holds a tuple) for the annotation ``tp``."""
    tp, _ = unoptional(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return click.Choice([str(a) for a in typing.get_args(tp)]), False
    if origin in (tuple, list):
        item = typing.get_args(tp)[0]
        return (_path(meta) if item is Path else str), True
    if tp is Path:
        return _path(meta), False
    if tp is int:
        return (click.IntRange(meta["min"], meta["max"], min_open=meta["min_open"])
                if meta["min"] is not None or meta["max"] is not None else int), False
    if tp is float:
        return (click.FloatRange(meta["min"], meta["max"], min_open=meta["min_open"])
                if meta["min"] is not None or meta["max"] is not None else float), False
    return str, False


def _path(meta: dict) -> click.Path:
    return click.Path(path_type=Path, file_okay=meta["file_okay"], dir_okay=meta["dir_okay"])


def shown_default(value: Any) -> Any:
    """A field's default as the help shows it (tuples comma-joined, paths as strings)."""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) if value else None
    return str(value) if isinstance(value, Path) else value


def field_option(f: dataclasses.Field, tp: Any) -> Callable:
    """The click option of one config field."""
    meta = f.metadata["option"]
    click_type, many = _click_type(tp, meta)
    flags = meta["flag"] or "--" + f.name.replace("_", "-")
    decls = [d for d in (meta["short"], *([flags] if isinstance(flags, str) else flags)) if d] + [f.name]
    default = None if f.default is dataclasses.MISSING else f.default
    kw: dict[str, Any] = {"help": meta["help"] or None}
    if unoptional(tp)[0] is bool:
        return click.option(*decls, is_flag=True, default=bool(default), **kw)
    if many and meta["multiple"]:
        return click.option(*decls, type=click_type, multiple=True, default=(), **kw)
    shown = shown_default(default)
    return click.option(*decls, type=str if many else click_type, default=shown,
                        show_default=meta["show_default"] and shown is not None, **kw)


def shared_option(name: str, spec: Callable[..., dataclasses.Field], tp: Any, *args: Any) -> Callable:
    """The click option of a shared field declaration (``config.DEVICE`` and the like) for a command
    without a config dataclass of its own."""
    f = spec(*args)
    f.name = name
    return field_option(f, tp)


def config_options(cls, *, skip: tuple[str, ...] = (), first: tuple[str, ...] = ()) -> Callable:
    """A decorator adding an option per field of ``cls`` that declares one (``config.option``),
    ``first`` at the top of the help, then in field order; ``skip``: fields the command takes
    otherwise (an argument)."""
    hints = typing.get_type_hints(cls)
    chosen = [f for f in dataclasses.fields(cls) if "option" in f.metadata and f.metadata["option"]["cli"]
              and f.name not in skip]
    chosen.sort(key=lambda f: (first.index(f.name) if f.name in first else len(first)))

    def decorate(fn):
        for f in reversed(chosen):
            fn = field_option(f, hints[f.name])(fn)
        return fn
    return decorate


def given_options(ctx: click.Context, kw: dict) -> dict:
    """Only the options the user set on the command line (so a config file's values survive)."""
    return {k: v for k, v in kw.items()
            if ctx.get_parameter_source(k) not in (click.core.ParameterSource.DEFAULT, None)}
