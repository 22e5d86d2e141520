"""Free TCP ports for test servers that cannot race with outgoing connections.

``aiohttp.test_utils.unused_port()`` asks the kernel for an ephemeral port and closes
it; between that and the server's bind, any outgoing connection (asyncpg, the SDK, the
simulator's callbacks) may be handed the same port, and the bind fails with "Address
already in use" (CI saw it once in ~1,300 tests). Ports below the kernel's ephemeral
range are never given to outgoing connections, so a port picked there and checked
free stays free for the test server.

Under pytest-xdist each worker takes its own slice of that range (``PYTEST_XDIST_WORKER``
gw0, gw1, …), so two workers never pick the same port.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _slice() -> tuple[int, int]:
    """This process's ports: 12,000 below the ephemeral range, split among xdist workers."""
    high = _ephemeral_low()
    low = max(high - 12_000, 1024)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if worker.startswith("gw") and worker[2:].isdigit() and count > 1:
        size = (high - low) // count
        low += int(worker[2:]) % count * size
        high = low + size
    return low, high


def free_port(host: str = "127.0.0.1") -> int:
    low, high = _slice()
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(low, high)
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
