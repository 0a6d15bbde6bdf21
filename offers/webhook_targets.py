"""Where webhooks may go: the public internet only, never inside the operator's network.

A URL is checked when it is registered (its host in every spelling a resolver would accept:
decimal, hex, octal and short IPv4 forms, IPv6 with an embedded IPv4, trailing dots, full-width
digits) and again at every delivery, against the addresses the name resolves to then: the
delivery connects to the address it checked (`GuardedNetworkBackend`), so a name that resolves
elsewhere by then (DNS rebinding) is refused too. Development and tests reach loopback only
through hosts named in `allowed_hosts` (the `WEBHOOK_ALLOWED_HOSTS` setting, empty by default).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_URL_LENGTH = 2000

# Networks that are not the public internet, listed (as well as the `ipaddress` flags) because
# those flags differ between Python versions and miss some (NAT64, 6to4, 192.0.0.0/24 …).
_FORBIDDEN_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "3fff::/20",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
# Cloud metadata services (some on otherwise public addresses, like Azure's wireserver).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.169.253",
        "fd00:ec2::254",
        "100.100.100.200",
        "192.0.0.192",
        "168.63.129.16",
    )
)
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
    }
)
# Names that never leave the local network (RFC 6761, RFC 6762, RFC 8375, ICANN's .internal).
_LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".home.arpa", ".lan")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")

Outcome = Literal["invalid_url", "target_forbidden"]


class TargetRefused(Exception):
    """A URL a webhook may not be sent to: `outcome` is the class, the message says why."""

    def __init__(self, outcome: Outcome, detail: str):
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


class TargetUnresolvable(Exception):
    """The host has no address right now (the delivery is retried)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its host in canonical form, the address when the host is one."""

    url: str
    host: str
    port: int
    address: IPAddress | None


def forbidden_address(ip: IPAddress) -> bool:
    """Whether `ip` is anything but a public unicast address (an IPv4 address embedded in an
    IPv6 one, mapped, NAT64 or 6to4, is judged as itself)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return True
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return forbidden_address(embedded)
    return (
        ip in METADATA_ADDRESSES
        or not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or any(ip.version == n.version and ip in n for n in _FORBIDDEN_NETWORKS)
    )


def _number(part: str) -> int | None:
    """One part of a numeric IPv4 host, as resolvers read it: 0x… hex, 0… octal, decimal."""
    try:
        if part[:2] == "0x":
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part[0] == "0":
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """`host` as an IPv4 address in any inet_aton spelling (127.1, 0x7f.1, 2130706433, 017…);
    None when it is a name. Raises TargetRefused for a number out of range."""
    parts = host.split(".")
    if _number(parts[-1]) is None:
        return None  # a name (no public TLD is a number)
    numbers = [_number(p) for p in parts]
    if len(parts) > 4 or any(n is None for n in numbers):
        raise TargetRefused("invalid_url", "url has a host that is neither a name nor an address")
    *head, last = [n for n in numbers if n is not None]
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        raise TargetRefused("invalid_url", "url has an IPv4 address out of range")
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def canonical_host(raw: str, *, bracketed: bool) -> tuple[str, IPAddress | None]:
    """The host as compared and connected to: lower case, IDNA (full-width digits and dots
    become ASCII), no trailing dot; an address in its standard spelling."""
    if bracketed:
        try:
            ip6 = ipaddress.IPv6Address(raw)
        except ValueError:
            raise TargetRefused("invalid_url", "url has an invalid IPv6 address") from None
        return str(ip6), ip6
    if "%" in raw:
        raise TargetRefused("invalid_url", "url has a percent-encoded host")
    try:
        host = raw.encode("idna").decode("ascii").lower() if not raw.isascii() else raw.lower()
    except UnicodeError:
        raise TargetRefused("invalid_url", "url has an invalid host name") from None
    if host.endswith("."):
        host = host[:-1]
    if not host or len(host) > 253:
        raise TargetRefused("invalid_url", "url has an invalid host name")
    ip4 = _legacy_ipv4(host)
    if ip4 is not None:
        return str(ip4), ip4
    labels = host.split(".")
    if any(not 1 <= len(label) <= 63 or not set(label) <= _LABEL_CHARS for label in labels):
        raise TargetRefused("invalid_url", "url has an invalid host name")
    return host, None


def _forbidden_name(host: str) -> bool:
    return (
        host == "localhost"
        or host in METADATA_NAMES
        or "." not in host  # a single label resolves through the local search domains
        or host.endswith(_LOCAL_SUFFIXES)
    )


def check_url(url: str, allowed_hosts: Iterable[str] = ()) -> Target:
    """The checked target of `url`; raises TargetRefused. Hosts in `allowed_hosts` (canonical,
    see `canonical_host`) may be loopback or private."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused("invalid_url", f"url is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or unicodedata.category(c).startswith("C") for c in url):
        raise TargetRefused("invalid_url", "url contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused("invalid_url", "url is malformed (host or port)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("invalid_url", "url must be an absolute http(s) URL")
    if "@" in parts.netloc:
        raise TargetRefused("invalid_url", "url must not carry a user name or password")
    if "\\" in parts.netloc or parts.netloc.endswith(":"):
        raise TargetRefused("invalid_url", "url has an invalid host or port")
    if port == 0:
        raise TargetRefused("invalid_url", "url has an invalid port")
    host, address = canonical_host(parts.hostname, bracketed="[" in parts.netloc)
    target = Target(
        url=url, host=host, port=port or (443 if parts.scheme == "https" else 80), address=address
    )
    if host in set(allowed_hosts):
        return target
    if (address is not None and forbidden_address(address)) or (
        address is None and _forbidden_name(host)
    ):
        raise TargetRefused(
            "target_forbidden", "url must point to a public internet address, not a local one"
        )
    return target


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of `host` from the system's resolver (raises socket.gaierror)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Connects only to an address it has just resolved and checked: the address connected to
    is the address judged. TLS still names the original host (SNI, certificate check) and the
    request keeps its Host header: httpcore passes those separately."""

    def __init__(self, allowed_hosts: Iterable[str], resolver: Resolver | None = None):
        self.allowed_hosts = frozenset(allowed_hosts)
        self.resolver = resolver or system_resolver
        self._inner = httpcore.AnyIOBackend()

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The checked addresses to connect to; raises TargetRefused or TargetUnresolvable."""
        name, literal = canonical_host(host.strip("[]"), bracketed=":" in host)
        if literal is not None:
            found = [literal]
        else:
            try:
                resolved = await self.resolver(name, port)
            except OSError as e:  # socket.gaierror, or a resolver's own failure
                raise TargetUnresolvable(f"{name}: {e}") from None
            try:
                found = [ipaddress.ip_address(a.split("%")[0]) for a in resolved]
            except ValueError:
                raise TargetUnresolvable(f"{name}: the resolver gave an invalid address") from None
        if not found:
            raise TargetUnresolvable(f"{name}: no address")
        if name not in self.allowed_hosts and any(forbidden_address(ip) for ip in found):
            raise TargetRefused(
                "target_forbidden", f"{name} resolves to a non-public address: {found}"
            )
        return found

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        error: Exception | None = None
        for ip in await self.addresses(host, port):
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as e:  # the next address, as a resolver's caller would
                error = e
        assert error is not None
        raise error

    async def connect_unix_socket(self, *args, **kwargs) -> httpcore.AsyncNetworkStream:
        raise TargetRefused("target_forbidden", "unix sockets are never a webhook target")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over the guarded backend (no proxies, no unix sockets)."""

    def __init__(self, backend: GuardedNetworkBackend):
        super().__init__(trust_env=False)
        # httpx takes no network backend: rebuild its pool as it does, with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), network_backend=backend
        )
