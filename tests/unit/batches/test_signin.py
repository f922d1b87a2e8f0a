"""The address sign-in failures are counted against (batches.signin.client_address)."""

from __future__ import annotations

from django.test import RequestFactory

from batches.signin import client_address


def request(forwarded: str | None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", **extra)


def test_without_trusted_proxies_a_forged_forwarded_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(request("203.0.113.9")) == "10.0.0.1"


def test_behind_one_proxy_the_client_is_the_address_it_appended(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The client forged the first entry; the proxy appended the real one.
    assert client_address(request("198.51.100.7, 203.0.113.9")) == "203.0.113.9"
    assert client_address(request(None)) == "10.0.0.1"


def test_behind_two_proxies_the_outer_ones_entry_counts(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_address(request("198.51.100.7, 203.0.113.9, 10.1.1.1")) == "203.0.113.9"
