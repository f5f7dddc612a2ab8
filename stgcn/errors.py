"""The one exception type for problems a user can fix (bad files, flags, configs)."""


class StgcnError(ValueError):
    """A user-facing error; its message is one line naming the file, the field and the fix."""
