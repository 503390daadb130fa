"""Failed logins per client address, shared by every worker and machine through the database.

The per-account smart lockout (``smart_lockout.py``) protects one school's password. This limit is
for the other attack, password spraying: one address trying a few passwords against many
usernames, which no per-account counter sees. ``limit`` failures within a window of ``window``
seconds (a fixed window from its first failure) refuse the address for a period that doubles with
every further refusal, up to ``max_lockout`` seconds; attempts while refused are not counted.

The counts live in the ``address_failure`` table, one upsert per failure, so the budget is the
same with 1 or 16 workers and survives a restart. It costs nothing on a successful call: only
failures write, and only calls that are not answered from the warm path read it. An address is
never refused for an account it is familiar to (the school's own address, which may be shared by
a local authority's schools), and failures against an account from its familiar addresses do not
count here: that is what keeps one school's stale password from shutting out its neighbours.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from functools import lru_cache

from eproc.services.lockout import growing_lockout, is_locked
from eproc.store.db import Store


# Every FMS call asks, mostly for the same few addresses: parsing one costs more than the lookup.
@lru_cache(maxsize=4096)
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


class AddressThrottle:
    """``limit`` failures within ``window`` seconds refuse an address for a period that doubles
    with every further refusal, up to ``max_lockout`` seconds (0 ``limit``: no limit)."""

    def __init__(self, store: Store, limit: int, window: float, lockout: float, max_lockout: float) -> None:
        self._store = store
        self.limit = limit
        self.window = window
        self.lockout = lockout
        self.max_lockout = max_lockout

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def is_blocked(self, key: str | None, now: datetime) -> bool:
        if not self.enabled or key is None:
            return False
        with self._store.unit_of_work() as uow:
            return is_locked(uow.address_failures.blocked_until(key), now)

    def record_failure(self, key: str | None, now: datetime) -> int | None:
        """Count one failure; the refusal in seconds when this failure starts one, else None."""
        if not self.enabled or key is None:
            return None
        quiet_since = now - timedelta(seconds=max(self.window, self.max_lockout))
        with self._store.unit_of_work() as uow:
            failures = uow.address_failures.count_failure(
                key, now, now - timedelta(seconds=self.window), quiet_since
            )
            seconds = None
            if failures is not None and failures >= self.limit:
                # The row is held by the upsert until commit: no other worker refuses it meanwhile.
                seconds = growing_lockout(self.lockout, self.max_lockout, uow.address_failures.lockouts(key))
                if not uow.address_failures.block(key, now, now + timedelta(seconds=seconds), self.limit):
                    seconds = None
                else:
                    # Rare (once per refusal): a good moment to forget addresses long quiet.
                    uow.address_failures.delete_quiet(quiet_since, now)
            uow.commit()
            return seconds

    def clear(self, key: str | None = None) -> int:
        with self._store.unit_of_work() as uow:
            removed = uow.address_failures.clear(key)
            uow.commit()
            return removed
