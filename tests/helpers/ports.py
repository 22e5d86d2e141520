"""Free TCP ports for test servers that cannot race with outgoing connections.

``aiohttp.test_utils.unused_port()`` asks the kernel for an ephemeral port and closes
it; between that and the server's bind, any outgoing connection (asyncpg, the SDK, the
simulator's callbacks) may be handed the same port, and the bind fails with "Address
already in use" (CI saw it once in ~1,300 tests). Ports below the kernel's ephemeral
range are never given to outgoing connections, so a port picked there and checked
free stays free for the test server.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    low = _ephemeral_low()
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(max(low - 12_000, 1024), low)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")
