"""Callback URLs against server-side request forgery, and delivery's retry rules, on a fake resolver
and canned answers (a real receiver is in tests/integration/test_callback_delivery.py)."""

from __future__ import annotations

import random
import socket
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from standardwebhooks import Webhook

from placard.api.callbacks import (
    Callback,
    CallbackFailed,
    CallbackRefused,
    Resolver,
    check_callback_url,
    deliver,
    new_secret,
    system_resolve,
)

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


def resolver(*addresses: str) -> Resolver:
    """A resolver that answers every host with these addresses, and nothing else."""

    def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def unresolvable(host: str, port: int) -> list[str]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


NOT_PUBLIC = {
    "10.0.0.1": "private",
    "172.16.5.4": "private",
    "192.168.1.1": "private",
    "127.0.0.1": "loopback",
    "127.1.2.3": "loopback",
    "169.254.169.254": "link-local",  # the instance metadata service
    "169.254.1.1": "link-local",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "0.0.0.0": "unspecified",
    "100.64.0.1": "shared address space",
    "100.127.255.254": "shared address space",
    "192.0.2.1": "private",  # documentation
    "::1": "loopback",
    "::": "unspecified",
    "fc00::1": "private",  # unique local
    "fd12:3456::1": "private",
    "fe80::1": "link-local",
    "fec0::1": "site-local",
    "ff02::1": "multicast",
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped IPv6
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "link-local",
    "::ffff:100.64.0.1": "shared address space",
    "::ffff:224.0.0.1": "multicast",
    "2002:a00:1::": "private",  # 6to4 of 10.0.0.1
    "64:ff9b::a9fe:a9fe": "link-local",  # NAT64 of 169.254.169.254
    "2001:db8::1": "private",  # documentation
}


@pytest.mark.parametrize(("address", "kind"), NOT_PUBLIC.items(), ids=NOT_PUBLIC.keys())
def test_hosts_resolving_to_non_public_addresses_are_refused(address: str, kind: str) -> None:
    # Given a host that resolves to a non-public address
    resolve = resolver(address)
    # When its URL is checked, Then it is refused, naming the kind of address but not the address
    with pytest.raises(CallbackRefused) as refused:
        check_callback_url("https://hooks.example.com/placard", resolve=resolve)
    assert refused.value.reason == f"callback_url host resolves to a {kind} address"


@pytest.mark.parametrize("address", ["10.0.0.1", "::ffff:169.254.169.254", "fe80::1"])
def test_literal_non_public_addresses_are_refused(address: str) -> None:
    # Given a URL whose host is the address itself
    host = f"[{address}]" if ":" in address else address
    # When it is checked (with no resolver to ask), Then it is refused
    with pytest.raises(CallbackRefused, match="resolves to a"):
        check_callback_url(f"https://{host}/hook", resolve=unresolvable)


@pytest.mark.parametrize("address", [PUBLIC_V4, PUBLIC_V6, f"::ffff:{PUBLIC_V4}"])
def test_hosts_resolving_to_public_addresses_are_accepted(address: str) -> None:
    # Given a host with a public address, When its https URL is checked, Then it passes
    check_callback_url("https://hooks.example.com/placard", resolve=resolver(address))


def test_every_resolved_address_must_be_public() -> None:
    # Given a host with one public and one private address (the client may pick either)
    resolve = resolver(PUBLIC_V4, "10.1.2.3")
    # When its URL is checked, Then it is refused
    with pytest.raises(CallbackRefused, match="private"):
        check_callback_url("https://hooks.example.com/placard", resolve=resolve)


def test_the_resolver_is_asked_for_the_host_and_port() -> None:
    # Given a resolver that notes what it is asked
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return [PUBLIC_V4]

    # When URLs with and without a port, and an international name, are checked
    check_callback_url("https://Hooks.Example.com/x", resolve=resolve)
    check_callback_url("https://hooks.example.com:8443/x", resolve=resolve)
    check_callback_url("https://bücher.example/x", resolve=resolve)
    # Then it is asked for each host as connected to (lower case, punycode) and its port
    assert asked == [
        ("hooks.example.com", 443),
        ("hooks.example.com", 8443),
        ("xn--bcher-kva.example", 443),
    ]


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/placard",
        "ftp://hooks.example.com/placard",
        "file:///etc/passwd",
        "hooks.example.com/placard",
    ],
)
def test_only_https_is_accepted(url: str) -> None:
    # Given a URL that is not https, When it is checked, Then it is refused
    with pytest.raises(CallbackRefused):
        check_callback_url(url, resolve=resolver(PUBLIC_V4))


@pytest.mark.parametrize(
    "url",
    [
        "https://user:secret@hooks.example.com/placard",
        "https://user@hooks.example.com/placard",
        "https://hooks.example.com\\@127.0.0.1/placard",  # a parser confusion
    ],
)
def test_user_info_is_refused(url: str) -> None:
    # Given a URL carrying a user name (or looking as if it did)
    # When it is checked, Then it is refused
    with pytest.raises(CallbackRefused, match="user name"):
        check_callback_url(url, resolve=resolver(PUBLIC_V4))


def test_unresolvable_hosts_are_refused() -> None:
    # Given a host the resolver does not know, or one with no addresses
    # When its URL is checked, Then it is refused
    with pytest.raises(CallbackRefused, match="does not resolve"):
        check_callback_url("https://nowhere.invalid/x", resolve=unresolvable)
    with pytest.raises(CallbackRefused, match="does not resolve"):
        check_callback_url("https://nowhere.invalid/x", resolve=resolver())


def test_allow_loopback_admits_loopback_over_http_only() -> None:
    # Given loopback allowed (local tests)
    # When loopback URLs are checked, Then http and https to loopback pass
    check_callback_url(
        "http://localhost:8080/x", resolve=resolver("127.0.0.1"), allow_loopback=True
    )
    check_callback_url("https://localhost/x", resolve=resolver("::1"), allow_loopback=True)
    check_callback_url("http://127.0.0.1:9/x", resolve=unresolvable, allow_loopback=True)
    # And http to a public address is still refused
    with pytest.raises(CallbackRefused, match="https"):
        check_callback_url(
            "http://hooks.example.com/", resolve=resolver(PUBLIC_V4), allow_loopback=True
        )
    # And http to a host that is partly loopback is refused too
    with pytest.raises(CallbackRefused, match="https"):
        check_callback_url(
            "http://mixed.example/", resolve=resolver("127.0.0.1", PUBLIC_V4), allow_loopback=True
        )
    # And private addresses stay refused
    with pytest.raises(CallbackRefused, match="private"):
        check_callback_url(
            "https://lan.example/", resolve=resolver("10.0.0.1"), allow_loopback=True
        )


def test_loopback_is_refused_by_default() -> None:
    # Given the default settings, When a loopback URL is checked, Then it is refused
    with pytest.raises(CallbackRefused, match="https"):
        check_callback_url("http://127.0.0.1:8080/x")
    with pytest.raises(CallbackRefused, match="loopback"):
        check_callback_url("https://127.0.0.1/x")


def test_the_system_resolver_gives_addresses_as_text() -> None:
    # Given a numeric host (no DNS is asked), When it is resolved, Then its address comes back
    assert system_resolve("127.0.0.1", 443) == ["127.0.0.1"]


def test_new_secrets_are_standard_webhooks_secrets() -> None:
    # Given two new secrets
    first, second = new_secret(), new_secret()
    # Then they have the whsec_ prefix, differ, and standardwebhooks accepts them
    assert first.startswith("whsec_")
    assert first != second
    Webhook(first)


# Delivery's rules, on canned answers: the host resolves to a public address, nothing is sent.

URL = "https://hooks.example.com/placard"
SECRET = new_secret()
CALLBACK = Callback(url=URL, webhook_id="msg_job-123", payload={"job_id": "job-123", "n": 1})


def client_answering(*answers: int | Exception) -> tuple[httpx.Client, list[httpx.Request]]:
    """A client whose transport gives these answers in turn, noting each request."""
    queue = list(answers)
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        given = queue.pop(0)
        if isinstance(given, Exception):
            raise given
        return httpx.Response(given, headers={"location": "http://169.254.169.254/"})

    return httpx.Client(transport=httpx.MockTransport(answer)), seen


def send(
    client: httpx.Client,
    *,
    attempts: int = 5,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    return deliver(
        CALLBACK,
        SECRET,
        client,
        attempts=attempts,
        now=now,
        sleep=lambda seconds: None,
        resolve=resolver(PUBLIC_V4),
    )


def test_faults_are_retried_under_one_webhook_id() -> None:
    # Given a receiver that cannot be reached, then times out, then throttles, then fails
    client, seen = client_answering(
        httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), 429, 502, 204
    )
    # When the callback is delivered
    attempts = send(client)
    # Then it took five attempts, the last one accepted
    assert attempts == 5
    # And every attempt carried the same id and the same body, signed for the receiver
    assert {request.headers["webhook-id"] for request in seen} == {"msg_job-123"}
    assert {request.content for request in seen} == {b'{"job_id":"job-123","n":1}'}
    for request in seen:
        assert request.headers["content-type"] == "application/json"
        assert Webhook(SECRET).verify(request.content, dict(request.headers)) == CALLBACK.payload


def test_delivery_gives_up_after_the_attempts() -> None:
    # Given a receiver that always fails
    client, seen = client_answering(*([503] * 10))
    # When the callback is delivered with three attempts, Then it fails after three
    with pytest.raises(CallbackFailed, match="503") as failed:
        send(client, attempts=3)
    assert failed.value.attempts == 3
    assert len(seen) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 301, 302, 307, 308])
def test_refusals_and_redirects_are_not_retried(status: int) -> None:
    # Given a receiver that refuses, or redirects (to the metadata service)
    client, seen = client_answering(status, 204)
    # When the callback is delivered, Then it is refused at once, without following
    with pytest.raises(CallbackRefused, match=str(status)):
        send(client)
    assert len(seen) == 1


def test_backoff_doubles_with_full_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given jitter that always picks the top of its range, and noted waits
    ranges: list[tuple[float, float]] = []

    def top(low: float, high: float) -> float:
        ranges.append((low, high))
        return high

    monkeypatch.setattr(random, "uniform", top)
    waits: list[float] = []
    client, _ = client_answering(*([500] * 5))
    # When a callback fails five times
    with pytest.raises(CallbackFailed):
        deliver(
            CALLBACK,
            SECRET,
            client,
            base_delay=0.5,
            sleep=waits.append,
            resolve=resolver(PUBLIC_V4),
        )
    # Then each wait is drawn from zero to a ceiling that doubles, and none follows the last
    assert ranges == [(0, 0.5), (0, 1.0), (0, 2.0), (0, 4.0)]
    assert waits == [0.5, 1.0, 2.0, 4.0]


def test_the_url_is_checked_again_before_each_attempt() -> None:
    # Given a host that resolves to a public address, then (rebinding) to the metadata service
    answers = iter([[PUBLIC_V4], ["169.254.169.254"]])

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    client, seen = client_answering(503, 204)
    # When the callback is delivered, Then the second attempt is refused before it is sent
    with pytest.raises(CallbackRefused, match="link-local"):
        deliver(CALLBACK, SECRET, client, sleep=lambda seconds: None, resolve=rebinding)
    assert len(seen) == 1


def test_a_passing_dns_fault_is_retried() -> None:
    # Given a host that does not resolve once, then does
    answers = iter([None, [PUBLIC_V4]])

    def flaky(host: str, port: int) -> list[str]:
        found = next(answers)
        if found is None:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return found

    client, seen = client_answering(204)
    # When the callback is delivered, Then it arrives on the second attempt
    assert deliver(CALLBACK, SECRET, client, sleep=lambda seconds: None, resolve=flaky) == 2
    assert len(seen) == 1


def test_an_unacceptable_url_sends_nothing() -> None:
    # Given a callback to a private address
    client, seen = client_answering(204)
    # When it is delivered, Then it is refused and nothing is sent
    with pytest.raises(CallbackRefused, match="private"):
        deliver(CALLBACK, SECRET, client, resolve=resolver("10.0.0.7"))
    assert seen == []


def test_the_timestamp_is_the_given_time() -> None:
    # Given a clock, When the callback is delivered
    client, seen = client_answering(200)
    moment = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    send(client, now=lambda: moment)
    # Then webhook-timestamp is its unix seconds
    assert seen[0].headers["webhook-timestamp"] == str(int(moment.timestamp()))
