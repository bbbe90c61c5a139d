"""The refusal every request check raises: the servicers' ``status_mapping``
answers it ``INVALID_ARGUMENT`` with the field's name, whichever function
(``finish``, ``listing``, the servicers) found the problem."""

from __future__ import annotations


class BadRequest(ValueError):
    """A request with a field that is missing or wrong; names the field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
