"""One root for every error chiplab raises about what a user gave it.

A :class:`ChiplabError` is the user's to fix (a malformed chip file, an unknown
workload, an unsupported op, a model that does not fit): the CLI prints its first
line and exits 2. Anything else that escapes is a bug in chiplab and shows its
traceback. Subclasses keep ``ValueError`` as a base so callers that caught
``ValueError`` before still do.
"""
from __future__ import annotations


class ChiplabError(ValueError):
    """An error in what the user gave chiplab; the message names the field, file or layer."""


class CapacityError(ChiplabError):
    """The workload does not fit in a device's memory (the message says what and by how much)."""
