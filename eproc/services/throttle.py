"""Failed logins per client address: a process-local sliding window with a growing lockout.

The per-username lockout (``account.failed_logins`` / ``locked_until``) is durable and shared by
every worker through the database; it is what protects one school's password. This limit is for
the other attack, password spraying: one address trying a few passwords against many usernames,
which no per-username counter sees.

Why process-local and not a table: the check runs before every call, including the warm-cache
calls that are most of FMS's traffic, and must cost nothing there; a table would add a read to
every call and a write to every failure (failures already write their event). The price: each
worker counts on its own, so an address is refused by every worker only after at most
``workers x limit`` failures per window, and a restart forgets the counts. The defaults are set
with that in mind, and the per-username lockout does not have this weakness. Memory is bounded:
at most ``max_addresses`` are tracked, the least recently seen forgotten first.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from eproc.services.lockout import growing_lockout

MAX_TRACKED_ADDRESSES = 10_000


def network_key(address: str | None) -> str | None:
    """The unit an address is counted by: an IPv4 address, or the /64 an IPv6 address is in.

    An IPv6 client usually controls a whole /64, so counting single IPv6 addresses would let it
    step around the limit. Anything that is not an IP address (a misconfigured proxy header) is
    counted as it is, shortened, rather than dropped: it still identifies the sender.
    """
    if not address:
        return None
    text = address.strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text[:64] or None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0
    lockouts: int = 0
    last_seen: float = 0.0


class AddressThrottle:
    """``limit`` failures within ``window`` seconds refuse an address for a period that doubles
    with every further lockout, up to ``max_lockout`` seconds."""

    def __init__(
        self,
        limit: int,
        window: float,
        lockout: float,
        max_lockout: float,
        *,
        max_addresses: int = MAX_TRACKED_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.lockout = lockout
        self.max_lockout = max_lockout
        self._max_addresses = max_addresses
        self._clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def is_blocked(self, key: str | None) -> bool:
        if not self.enabled or key is None:
            return False
        with self._lock:
            record = self._records.get(key)
            return record is not None and record.blocked_until > self._clock()

    def record_failure(self, key: str | None) -> int | None:
        """Count one failure; the lockout in seconds when this failure starts one, else None."""
        if not self.enabled or key is None:
            return None
        now = self._clock()
        with self._lock:
            record = self._records.get(key)
            if record is None or now - max(record.last_seen, record.blocked_until) > max(self.window, self.max_lockout):
                # Quiet for longer than any lockout lasts since the last one ended: start again.
                record = _Record()
                self._records[key] = record
            self._records.move_to_end(key)
            record.last_seen = now
            while len(self._records) > self._max_addresses:
                self._records.popitem(last=False)
            if record.blocked_until > now:
                return None  # already refused; attempts while refused do not lengthen the period
            record.failures.append(now)
            while record.failures and record.failures[0] <= now - self.window:
                record.failures.popleft()
            if len(record.failures) < self.limit:
                return None
            seconds = growing_lockout(self.lockout, self.max_lockout, record.lockouts)
            record.lockouts += 1
            record.blocked_until = now + seconds
            record.failures.clear()
            return seconds

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

