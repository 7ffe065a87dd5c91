"""Argument checks shared by every entry point: the loader, the report, the CLI, the magics and
the dashboard all validate campaign ids and lead statuses here, so that one value gets one
outcome wherever it is typed. The other kinds of argument (a client, a path, a flag, a count,
a fraction, a text, positive tags, a frame) have one check each at the end of this module.

The rule, for both: a value is accepted in its canonical form, or in a form that differs from
it only by letter case and surrounding whitespace, and is returned in the canonical form (ids in
lower-case hex, statuses as in ``LEAD_STATUSES``). Anything else is a :class:`BadRequestError`
whose message quotes the value cut to :data:`SHOWN_CHARS` characters and whose hint says what
to pass instead.

Why accept case and whitespace: ids are Mongo ObjectIds, which the API itself reads case-
insensitively (so does the demo API), and they are often pasted from a URL, a spreadsheet or a
log with a stray space or newline; rejecting what the server would serve helps no one. Why
normalise: the frames carry the id the caller passed (``campaign_id`` column), and the campaigns
list carries the API's lower-case form, so an id kept as typed would no longer join with its
name.
"""

from __future__ import annotations

import math
import numbers
import os
import reprlib
import shlex
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import polars as pl

from sendkit_nb._errors import BadRequestError
from sendkit_nb._schema import LEAD_STATUSES

__all__ = [
    "MAX_COUNT",
    "SHOWN_CHARS",
    "check_campaign_label",
    "check_count",
    "check_flag",
    "check_fraction",
    "check_frame",
    "check_object_id",
    "check_path",
    "check_positive_tags",
    "check_status_filter",
    "check_statuses",
    "check_text",
    "kind_shown",
    "object_id_or_none",
    "shown",
    "statuses_from_args",
]

#: At most this many characters of a rejected value appear in an error message: a value can be
#: a pasted document or a huge list, and an error line must stay one readable line.
SHOWN_CHARS = 60

_OBJECT_ID_LENGTH = 24
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_EXAMPLE_ID = "665a1b2c3d4e5f6a7b8c9d0e"
_ID_HINT = "Copy the id from load_campaigns(client) or `sendkit-nb campaigns`."
_STATUS_HINT = f"Use one or several of: {', '.join(LEAD_STATUSES)}."
# Statuses by their folded spelling, so "Replied " finds "replied" in one dict look-up.
_STATUS_BY_KEY = {status.casefold(): status for status in LEAD_STATUSES}


def _short_repr() -> reprlib.Repr:
    # reprlib bounds containers and long strings while it builds the text, so a million-item
    # list is not rendered in full only to be cut afterwards. (Attributes, not constructor
    # arguments: those arrived in Python 3.12.)
    short = reprlib.Repr()
    short.maxlevel = 2
    short.maxstring = SHOWN_CHARS
    short.maxother = SHOWN_CHARS
    short.maxlong = SHOWN_CHARS
    short.maxtuple = short.maxlist = short.maxarray = short.maxdeque = 4
    short.maxdict = short.maxset = short.maxfrozenset = 4
    return short


_SHORT_REPR = _short_repr()


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` cut to at most ``limit`` characters, for error messages.

    >>> shown("x" * 1000, 12)
    "'xxxxxxxxxx\u2026"
    >>> shown(["replied"])
    "['replied']"
    """
    try:
        text = _SHORT_REPR.repr(value)
    except Exception:  # a broken __repr__ must not hide the error being reported
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "\u2026"


# -- campaign ids -------------------------------------------------------------------------------


def object_id_or_none(value: object) -> str | None:
    """The canonical (stripped, lower-case) form of a 24-hex ObjectId, or None when ``value``
    is not one. For callers that accept something else too (the magics take a campaign name).

    >>> object_id_or_none(" 665A1B2C3D4E5F6A7B8C9D0E\\n")
    '665a1b2c3d4e5f6a7b8c9d0e'
    >>> object_id_or_none("Q3 founders") is None
    True
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    # Hex-ness is tested before lower-casing: str.lower maps some non-ASCII letters to ASCII
    # ones (KELVIN SIGN -> "k"), and only ASCII hex digits make an ObjectId.
    if len(text) != _OBJECT_ID_LENGTH or not all(c in _HEX_DIGITS for c in text):
        return None
    return text.lower()


def check_object_id(value: object, what: str = "campaign id") -> str:
    """``value`` as a canonical 24-hex ObjectId (stripped, lower case), else BadRequestError.

    >>> check_object_id("665A1B2C3D4E5F6A7B8C9D0E")
    '665a1b2c3d4e5f6a7b8c9d0e'
    """
    found = object_id_or_none(value)
    if found is None:
        raise BadRequestError(
            f"{what} must be a 24-character hex id like '{_EXAMPLE_ID}', got {shown(value)}",
            hint=_ID_HINT,
        )
    return found


def check_campaign_label(value: object, what: str = "campaign_id") -> str:
    """A campaign id for frames built from items in memory: an ObjectId in its canonical
    form (as :func:`check_object_id`), or any other non-blank string as it is, else
    BadRequestError. Looser than :func:`check_object_id` on purpose: such frames are also
    built from exports and fixtures whose campaigns carry a label, and no request is made
    with it; None or a number, though, is always a mistake.

    >>> check_campaign_label(" 665A1B2C3D4E5F6A7B8C9D0E ")
    '665a1b2c3d4e5f6a7b8c9d0e'
    >>> check_campaign_label("pilot")
    'pilot'
    """
    found = object_id_or_none(value)
    if found is not None:
        return found
    if not isinstance(value, str) or not value.strip():
        raise BadRequestError(
            f"{what} must be a campaign id (24 hex characters like '{_EXAMPLE_ID}'), got "
            f"{shown(value)}",
            hint=_ID_HINT,
        )
    return value


# -- lead statuses ------------------------------------------------------------------------------


def _status_items(value: object) -> list[object]:
    """One status or an iterable of them, as a list (a string is one status, not letters)."""
    if isinstance(value, str):
        return [value]
    # A mapping iterates its keys and bytes its integers: both are mistakes, not selections.
    if isinstance(value, Iterable) and not isinstance(value, bytes | bytearray | Mapping):
        return list(value)
    raise BadRequestError(
        f"status must be a lead status or a list of them, got a {type(value).__name__}",
        hint=_STATUS_HINT,
    )


def _canonical_statuses(items: list[object]) -> tuple[str, ...]:
    chosen: list[str] = []
    unknown: list[object] = []
    for item in items:
        status = _STATUS_BY_KEY.get(item.strip().casefold()) if isinstance(item, str) else None
        if status is None:
            unknown.append(item)
        else:
            chosen.append(status)
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise BadRequestError(f"unknown lead status {shown(unknown[0])}{more}", hint=_STATUS_HINT)
    # A status named twice is walked once: the loader makes one pass per status.
    return tuple(dict.fromkeys(chosen))


def check_statuses(value: object) -> tuple[str, ...] | None:
    """A status selection for loading: one lead status or an iterable of them, returned in
    canonical spelling without repeats; None (every status) stays None.

    An empty selection is an error rather than "every status" or "nothing": a filter that came
    out empty is almost always a mistake, and guessing either way would hide it.

    >>> check_statuses(["Replied", "bounced", "replied"])
    ('replied', 'bounced')
    >>> check_statuses("active")
    ('active',)
    """
    if value is None:
        return None
    items = _status_items(value)
    if not items:
        raise BadRequestError(
            f"unknown lead status {shown(value)}: name at least one",
            hint=f"{_STATUS_HINT} status=None selects every status.",
        )
    return _canonical_statuses(items)


def check_status_filter(value: object) -> tuple[str, ...]:
    """A status filter as a widget holds it: like :func:`check_statuses`, except that None or
    an empty selection is ``()``, meaning every status (nothing ticked, no filter).

    >>> check_status_filter(())
    ()
    >>> check_status_filter("replied")
    ('replied',)
    """
    if value is None:
        return ()
    items = _status_items(value)
    return _canonical_statuses(items) if items else ()


def statuses_from_args(values: Sequence[str] | None) -> tuple[str, ...] | None:
    """``--status`` values from a command line (the CLI's and the magics'): each may hold
    several, comma-separated; None or no values is every status.

    ``--status ""`` is the empty selection, an error as in :func:`check_statuses`.

    >>> statuses_from_args(["replied,bounced", "active"])
    ('replied', 'bounced', 'active')
    """
    if not values:
        return None
    parts = [part for value in values for part in value.split(",") if part.strip()]
    return check_statuses(parts)


# -- arguments by kind ----------------------------------------------------------------------------
# One check per kind of argument, called by every public entry point that takes that kind: a
# wrong type then fails at the door as a BadRequestError naming the parameter, never as a
# TypeError or AttributeError from deep inside (``None.deadline_at``, ``iter(5)``, polars).

#: The largest count a threshold such as ``min_sends`` takes: more than any campaign holds, and
#: small enough for polars to compare with its integer columns (2**63 is not).
MAX_COUNT = 10**12


def kind_shown(value: object) -> str:
    """What a value of the wrong type is, for a message: ``None``, or its type's name."""
    return "None" if value is None else f"a {type(value).__name__}"


def _example(name: str, value: object) -> str:
    """``name`` given ``value``, as written where it is typed: ``--store sendkit-data`` for a
    command-line option (a name starting with ``-``), ``path='sendkit-data'`` for a keyword."""
    if name.startswith("-"):
        return f"{name} {shlex.quote(str(value))}"
    return f"{name}={value!r}"


def check_path(value: object, name: str, *, example: str = "sendkit-data") -> Path:
    """``value`` as a :class:`~pathlib.Path` (``~`` expanded) if it is a ``str`` or
    ``os.PathLike`` naming something, else BadRequestError naming the parameter ``name``.

    An empty or blank path is refused, not read as the current folder (``Path("")`` is
    ``.``): an empty value is almost always a variable that was never set, and writing a store
    or a report into whatever folder the notebook runs in would hide that. ``'.'`` says it.

    >>> check_path("~/x", "path").name
    'x'
    """
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise BadRequestError(
            f"{name} must be a path (a str or pathlib.Path), got {shown(value)}",
            hint=f"For example {_example(name, example)}.",
        )
    if not value.strip():
        raise BadRequestError(
            f"empty path given as {name} ({value!r})",
            hint=f"Name the file or folder, for example {_example(name, example)}; '.' is the "
            "current folder.",
        )
    return Path(value).expanduser()


def check_flag(value: object, name: str) -> bool:
    """``value`` if it is True or False, else BadRequestError: ``full="no"`` is truthy, and a
    flag read by truthiness would do the opposite of what was written."""
    if not isinstance(value, bool):
        raise BadRequestError(
            f"{name} must be True or False, got {shown(value)}",
            hint=f"Pass {name}=True or {name}=False.",
        )
    return value


def check_count(value: object, name: str, *, example: int, limit: int = MAX_COUNT) -> int:
    """``value`` if it is a whole number from 0 to ``limit`` (not a bool: ``True`` is a
    mistake, not 1), else BadRequestError naming ``name``."""
    # numbers.Integral: numpy's integers too (a value taken from a frame is one).
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or not 0 <= int(value) <= limit
    ):
        raise BadRequestError(
            f"{name} must be a whole number from 0 to {limit:,}, got {shown(value)}",
            hint=f"For example {name}={example}.",
        )
    return int(value)


def check_fraction(value: object, name: str, *, example: float) -> float:
    """``value`` as a float if it is a real number strictly between 0 and 1 (a significance
    level, a confidence), else BadRequestError naming ``name``. A string such as ``"0.05"``
    is refused rather than converted: every other number argument is a number."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)  # numpy's floats too
        or not math.isfinite(value)
        or not 0.0 < float(value) < 1.0
    ):
        raise BadRequestError(
            f"{name} must be a number between 0 and 1 (exclusive), got {shown(value)}",
            hint=f"For example {name}={example}.",
        )
    return float(value)


def check_text(value: object, name: str, *, example: str, optional: bool = True) -> str | None:
    """``value`` if it is a string that is not blank (or None when ``optional``), else
    BadRequestError naming ``name``. A blank string is refused rather than read as "no
    value": ``title=""`` would give an untitled page, ``search=""`` every campaign."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        # An option left out is None; on a command line that is no value to suggest.
        none = " or None" if optional and not name.startswith("-") else ""
        raise BadRequestError(
            f"{name} must be a non-blank string{none}, got {shown(value)}",
            hint=f"For example {_example(name, example)}.",
        )
    return value


def check_positive_tags(value: object, name: str = "positive_tags") -> tuple[str, ...] | None:
    """The AI tags counted as positive, as a tuple without repeats; None (the default set)
    stays None. One tag name or an iterable of them; an empty iterable is no positive tag.

    >>> check_positive_tags("interested")
    ('interested',)
    """
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable) or isinstance(items, bytes | bytearray | Mapping):
        raise BadRequestError(
            f"{name} must be an AI tag name or a list of them, got {shown(value)}",
            hint=f"For example {name}=['interested', 'meeting_booked'].",
        )
    tags = list(items)
    bad = [t for t in tags if not isinstance(t, str) or not t.strip()]
    if bad:
        raise BadRequestError(
            f"{name} must hold non-empty AI tag names, got {shown(bad[0])} in it",
            hint=f"For example {name}=['interested', 'meeting_booked'].",
        )
    return tuple(dict.fromkeys(tags))


def check_frame(frame: object, required: Iterable[str], what: str, hint: str) -> pl.DataFrame:
    """``frame`` if it is a polars DataFrame with the ``required`` columns, else a
    :class:`~sendkit_nb.BadRequestError` that names every missing column; ``hint`` says which
    function gives the right frame."""
    if not isinstance(frame, pl.DataFrame):
        raise BadRequestError(
            f"{what} needs a polars DataFrame, got {type(frame).__name__}", hint=hint
        )
    missing = [c for c in dict.fromkeys(required) if c not in frame.columns]
    if missing:
        raise BadRequestError(
            f"{what}: the frame lacks the column(s) {', '.join(map(repr, missing))}", hint=hint
        )
    return frame
