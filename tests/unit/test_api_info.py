"""API info with one manager or several (``TOKEN:HOST:PORT,HOST:PORT``):
what parses, and errors that name the bad part and never the token."""

from __future__ import annotations

import pytest

from prover.api.client import ApiInfo, ApiInfoError, ManagerClient, parse_api_info

TOKEN = "worker.abcdef0123"


def test_one_address_stays_valid():
    info = parse_api_info(f"{TOKEN}:127.0.0.1:9700")
    assert info.token == TOKEN
    assert info.address == "127.0.0.1:9700"
    assert info.addresses == ("127.0.0.1:9700",)
    assert str(info) == f"{TOKEN}:127.0.0.1:9700"


def test_several_addresses_in_order():
    info = parse_api_info(f" {TOKEN}:m1.lan:9700, m2.lan:9700,[::1]:9800 ")
    assert info.addresses == ("m1.lan:9700", "m2.lan:9700", "[::1]:9800")
    assert info.address == "m1.lan:9700"  # what single-manager code reads
    assert str(info) == f"{TOKEN}:m1.lan:9700,m2.lan:9700,[::1]:9800"
    assert parse_api_info(str(info)) == info


def test_api_info_built_in_code_keeps_its_shape():
    assert ApiInfo(TOKEN, "h:1").addresses == ("h:1",)
    assert ApiInfo(TOKEN, "h:1,g:2").addresses == ("h:1", "g:2")
    assert ApiInfo.of(TOKEN, ["h:1", "g:2"]).address == "h:1"


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("", "no token"),
        ("127.0.0.1", "no token"),
        (f"{TOKEN}:", "no manager address"),
        (":127.0.0.1:9700", "no token"),
        (f"{TOKEN}:127.0.0.1", "the address, '127.0.0.1', is not HOST:PORT"),
        (f"{TOKEN}:h:port", "no valid port ('port')"),
        (f"{TOKEN}:h:70000", "no valid port ('70000')"),
        (f"{TOKEN}:h:1,", "address 2 of 2 is empty"),
        (f"{TOKEN}:h:1,,g:2", "address 2 of 3 is empty"),
        (f"{TOKEN}:h:1,g", "address 2 of 2, 'g', is not HOST:PORT"),
        (f"{TOKEN}:h:1,:9700", "address 2 of 2, ':9700', is not HOST:PORT"),
        (f"{TOKEN}:h:1,h:1", "'h:1' is listed twice"),
        (f"{TOKEN}:my host:1", "has a space"),
    ],
)
def test_bad_api_info_names_the_bad_part(value, names):
    with pytest.raises(ApiInfoError) as info:
        parse_api_info(value)
    assert names in str(info.value)
    assert TOKEN not in str(info.value)  # a secret, never echoed


def test_a_client_has_a_channel_per_manager_and_the_stub_shape():
    client = ManagerClient(parse_api_info(f"{TOKEN}:127.0.0.1:1,127.0.0.1:2"))
    try:
        assert len(client.channels) == 2 and client.address == "127.0.0.1:1"
        assert client.metadata == (("authorization", f"Bearer {TOKEN}"),)
        # the call sites' shape: stub methods, .future, a stream
        assert callable(client.worker.Finish) and callable(client.worker.Claim.future)
        assert callable(client.admin.ListJobs) and callable(client.admin.CheckSectors)
        with pytest.raises(AttributeError):
            _ = client.worker.NoSuchCall
    finally:
        client.close()
