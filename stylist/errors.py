"""Errors a person can act on: each names the thing and what is wrong with it."""


class StylistError(Exception):
    """An expected failure with a message fit to show a person (no traceback)."""


class UsageError(StylistError):
    """The request itself is wrong: an unknown id, a bad category, a missing argument."""


class PhotoError(StylistError):
    """One photo cannot be imported; the message says why."""


class DiskFull(StylistError):
    """The disk holding the library is full: what was stored before stays; nothing more fits."""
