"""Defect types: free text names such as `crack` or `broken_large`, one per image (null when unknown).

A name is at most 64 characters, without commas (the `defect_type=` list filter separates names with
commas) and without control characters; surrounding spaces are dropped and "" means "none".
"""

import re

MAX_LENGTH = 64
_FORBIDDEN = re.compile(r"[,\x00-\x1f\x7f]")


def clean(value: str | None) -> str | None:
    """The stored form of a name someone typed; raises ValueError (with a reason in words) for a bad one."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("Must be a string or null.")
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_LENGTH:
        raise ValueError(f"At most {MAX_LENGTH} characters.")
    if _FORBIDDEN.search(value):
        raise ValueError("No commas or control characters.")
    return value


def from_archive(value: str | None) -> str | None:
    """The stored form of a name from an archive (a folder name, a manifest cell): never refused, made
    valid instead (commas and control characters become spaces, too long names are cut)."""
    value = " ".join(_FORBIDDEN.sub(" ", value or "").split())
    return value[:MAX_LENGTH].strip() or None
