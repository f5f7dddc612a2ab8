"""The one exception type for problems a user can fix (bad files, flags, configs)."""


class StgcnError(ValueError):
    """A user-facing error; its message is one line naming the file, the field and the fix."""


class MissingFileError(StgcnError):
    """A file the user named is not there (or is a folder); callers may add where to set its path."""


def did_you_mean(name: object, valid) -> str:
    """`` (did you mean 'x'?)`` for the closest valid name, or an empty string."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
