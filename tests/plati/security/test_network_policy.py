"""The network policy decides in process, with a resolver the test controls: what is always
refused, what the operator can block and allow, and how names are judged by every address."""

from __future__ import annotations

import ipaddress

import pytest

from plati.errors import AddressNotAllowed
from plati.security.network import NetworkPolicy, address_class

from .support import FakeResolver


def rule_of(policy: NetworkPolicy, url: str) -> str | None:
    try:
        policy.check_url(url)
    except AddressNotAllowed as exc:
        refused = exc
    else:
        return None
    assert (refused.status_code, refused.code) == (422, "address_not_allowed")
    return str(refused.details["rule"])


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "metadata"),
        ("http://100.100.100.200/", "metadata"),
        ("http://169.254.10.1:8080/", "link_local"),
        ("http://[fe80::1]/", "link_local"),
        ("http://[::ffff:169.254.169.254]/", "metadata"),
        ("http://[64:ff9b::a9fe:a9fe]/", "metadata"),
        ("http://[2002:a9fe:a9fe::1]/", "metadata"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://0.0.0.0:5000/", "unspecified"),
        ("http://0.1.2.3/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://255.255.255.255/", "reserved"),
        ("http://240.0.0.1/", "reserved"),
        ("http://2130706433/", "ambiguous_address"),
        ("http://0x7f000001/", "ambiguous_address"),
        ("http://0x7f.1/", "ambiguous_address"),
        ("http://0177.0.0.1/", "ambiguous_address"),
        ("http://127.1/", "ambiguous_address"),
        ("http://user:pass@example.com/", "credentials_in_url"),
        ("http://token@example.com/", "credentials_in_url"),
        ("ftp://example.com/", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1:6379/", "scheme"),
        ("http:///nohost", "scheme"),
    ],
)
def test_these_urls_are_always_refused_whatever_the_operator_allows(url: str, rule: str) -> None:
    permissive = NetworkPolicy(allowed_hosts=["0.0.0.0/0", "::/0", "example.com"])
    assert rule_of(permissive, url) == rule
    assert rule_of(NetworkPolicy(block_private=True), url) == rule


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:5000", "http://[::1]:8080/mcp", "http://10.1.2.3/", "http://192.168.0.10/", "http://172.20.0.5"],
)
def test_loopback_and_private_addresses_are_allowed_by_default_and_blocked_by_one_setting(url: str) -> None:
    assert rule_of(NetworkPolicy(), url) is None
    blocked = NetworkPolicy(block_private=True)
    assert rule_of(blocked, url) in ("loopback", "private")
    with pytest.raises(AddressNotAllowed) as refused:
        blocked.check_url(url)
    assert refused.value.details["setting"] == "PLATI_BLOCK_PRIVATE_NETWORKS"
    assert "PLATI_ALLOWED_HOSTS" in refused.value.message


def test_public_addresses_and_names_pass_the_form_check() -> None:
    policy = NetworkPolicy(block_private=True)
    for url in ("https://api.example.com/v1", "http://93.184.215.14/", "https://[2606:2800:21f:cb07::1]/"):
        assert rule_of(policy, url) is None


def test_the_allowlist_reopens_private_networks_by_cidr_address_and_name() -> None:
    policy = NetworkPolicy(block_private=True, allowed_hosts=["10.0.0.0/8", "192.168.1.5", "*.corp.test", "shop.test"])
    assert rule_of(policy, "http://10.20.30.40/") is None
    assert rule_of(policy, "http://192.168.1.5/") is None
    assert rule_of(policy, "http://192.168.1.6/") == "private"
    assert rule_of(policy, "http://127.0.0.1/") == "loopback"


async def test_a_name_is_judged_by_every_address_it_resolves_to() -> None:
    resolver = FakeResolver(
        {
            "shop.test": "127.0.0.1",
            "mixed.test": ["93.184.215.14", "169.254.169.254"],
            "metadata.test": "169.254.169.254",
            "intranet.test": "10.0.0.7",
            "app.corp.test": ["10.9.9.9"],
        }
    )
    policy = NetworkPolicy(block_private=True, allowed_hosts=["*.corp.test"], resolver=resolver)
    for name, rule in (("mixed.test", "metadata"), ("metadata.test", "metadata"), ("intranet.test", "private")):
        with pytest.raises(AddressNotAllowed) as refused:
            await policy.resolve(name, 80)
        assert refused.value.details["rule"] == rule
    assert await policy.resolve("app.corp.test", 443) == ["10.9.9.9"]
    with pytest.raises(AddressNotAllowed):
        await policy.check_url_resolved("http://shop.test:8000/")
    assert await NetworkPolicy(resolver=resolver).resolve("shop.test", 80) == ["127.0.0.1"]


async def test_an_allowlisted_name_never_reaches_an_always_refused_address() -> None:
    resolver = FakeResolver({"api.corp.test": "169.254.169.254"})
    policy = NetworkPolicy(block_private=True, allowed_hosts=["api.corp.test", "169.254.0.0/16"], resolver=resolver)
    with pytest.raises(AddressNotAllowed) as refused:
        await policy.resolve("api.corp.test", 80)
    assert refused.value.details["rule"] == "metadata"


async def test_a_name_that_does_not_resolve_is_not_refused_at_registration() -> None:
    policy = NetworkPolicy(block_private=True, resolver=FakeResolver())
    target = await policy.check_url_resolved("https://not-yet.test/mcp")
    assert (target.host, target.port) == ("not-yet.test", 443)
    with pytest.raises(OSError, match="not known"):
        await policy.resolve("not-yet.test", 443)


def test_the_allowlist_refuses_entries_that_are_neither_names_nor_networks() -> None:
    with pytest.raises(ValueError, match="neither a host name"):
        NetworkPolicy(allowed_hosts=["http://10.0.0.1/"])


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", "public"),
        ("100.64.0.1", "private"),
        ("fc00::1", "private"),
        ("::1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("192.0.0.192", "metadata"),
    ],
)
def test_addresses_are_classified_by_what_they_reach(address: str, kind: str) -> None:
    assert address_class(ipaddress.ip_address(address)) == kind
