"""Who is asking: the client's address behind the configured reverse proxies, and the
network that per-IP limits count it in.

Every per-IP limit uses :func:`client_bucket`; nothing else reads ``request.remote``.
``X-Forwarded-For`` is believed only as far as it was written by a trusted proxy
(``http.trusted_proxies``): the hops are walked from the right while the address we
have is trusted, and the first address outside the trusted networks is the client. A
client can prepend anything it likes to the header, but it cannot get past the hop our
own proxy appended.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from aiohttp import web

from burgerwacht.web.keys import SETTINGS

Address = IPv4Address | IPv6Address


def parse_address(text: str) -> Address | None:
    """An address as peers and proxies write it (``192.0.2.1``, ``192.0.2.1:443``,
    ``[2001:db8::1]:443``, IPv4-mapped IPv6); None when it is not one."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        addr = ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _trusted(addr: Address, networks: list[IPv4Network | IPv6Network]) -> bool:
    return any(addr in net for net in networks)


def client_address(request: web.Request) -> Address | None:
    """The client's address: the peer, or — when the peer is a trusted proxy — the
    right-most ``X-Forwarded-For`` hop that is not itself a trusted proxy."""
    trusted = request.app[SETTINGS].http.trusted_proxies
    addr = parse_address(request.remote or "")
    if addr is None or not trusted:
        return addr
    hops = [hop for value in request.headers.getall("X-Forwarded-For", ()) for hop in value.split(",")]
    while hops and _trusted(addr, trusted):
        hop = parse_address(hops.pop())
        if hop is None:  # not an address: stop at the last hop we could trust
            break
        addr = hop
    return addr


def client_ip(request: web.Request) -> str:
    addr = client_address(request)
    return str(addr) if addr is not None else "unknown"


def client_bucket(request: web.Request) -> str:
    """The network per-IP limits count this client in: its IPv4 address's
    ``/http.ipv4_limit_prefix`` (default /24) or its IPv6 address's
    ``/http.ipv6_limit_prefix`` (default /64, one subscriber's allocation) — one host
    with many addresses in its own network shares one budget."""
    addr = client_address(request)
    if addr is None:
        return "unknown"
    http = request.app[SETTINGS].http
    prefix = http.ipv4_limit_prefix if addr.version == 4 else http.ipv6_limit_prefix
    return str(ip_network(f"{addr}/{prefix}", strict=False))
