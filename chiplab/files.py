"""Checks on an input file before it is opened: it exists, is a regular file (a directory
or a FIFO is refused without opening it: reading a FIFO blocks until someone writes),
is not empty, and is not larger than the reader is meant for. Every failure is the
caller's one-line :class:`~chiplab.errors.ChiplabError` subclass naming the file."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from chiplab.errors import ChiplabError
from chiplab.units import short

MiB = 2**20


def check_input_file(path: "str | Path", what: str, error: type[ChiplabError] = ChiplabError, *,
                     max_bytes: int | None = None) -> Path:
    """``path`` as a :class:`Path` when it is a readable regular file of 1..``max_bytes`` bytes."""
    p = Path(path)
    try:
        st = os.stat(p)          # follows symlinks; never opens the file
    except FileNotFoundError:
        raise error(f"{p}: no such {what}") from None
    except (OSError, ValueError) as e:   # too long a name, a NUL byte, no permission...
        raise error(f"{short(str(p))}: cannot read {what} ({getattr(e, 'strerror', None) or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{p}: is a directory, expected a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{p}: not a regular file (a pipe, socket or device), expected a {what}")
    if st.st_size == 0:
        raise error(f"{p}: empty {what}")
    if max_bytes is not None and st.st_size > max_bytes:
        raise error(f"{p}: {what} is {st.st_size / MiB:.1f} MiB, more than the {max_bytes / MiB:g} MiB limit")
    return p


def read_text(p: Path, what: str, error: type[ChiplabError] = ChiplabError) -> str:
    """The file's text as UTF-8; a binary or unreadable file is a one-line error."""
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{p}: not a text {what} (byte {e.start} is not UTF-8)") from None
    except OSError as e:
        raise error(f"{p}: cannot read {what} ({e.strerror})") from None
