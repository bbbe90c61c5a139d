"""The refusal every request check raises: the servicers' ``status_mapping``
answers it ``INVALID_ARGUMENT`` with the field's name, whichever function
(``finish``, ``listing``, the servicers) found the problem."""

from __future__ import annotations


class BadRequest(ValueError):
    """A request with a field that is missing or wrong; names the field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


class ClientTooOld(Exception):
    """A worker or storage host speaks an API older than this manager serves
    (``prover.buildinfo.MIN_CLIENT_API``): refused at its registration, with
    both versions named, instead of failing later on a field it never sends."""

    def __init__(self, kind: str, name: str, version: str, api: int) -> None:
        from prover.buildinfo import API_VERSION, MIN_CLIENT_API, build_info

        super().__init__(
            f"{kind} {name} runs prover {version or 'of unknown version'} (API {api}); "
            f"this manager runs prover {build_info().short()} and serves API "
            f"{MIN_CLIENT_API} to {API_VERSION}: upgrade the {kind} to this release"
        )
        self.api = api
