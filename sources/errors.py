"""What the source services refuse; the faces translate these into HTTP or messages."""

from __future__ import annotations


class SourceError(Exception):
    """A refused source operation; `message` is shown to people as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SourceTooLarge(SourceError):
    """The file is past SOURCE_MAX_BYTES (HTTP 413)."""


class UnsupportedSourceType(SourceError):
    """The content is not a supported format (HTTP 415)."""


class InvalidSourceFile(SourceError):
    """The file cannot be read: corrupt, encrypted, no text, too many pages (HTTP 400)."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


class SourceInUse(SourceError):
    """A pending, running or paused batch uses the source (HTTP 409)."""
