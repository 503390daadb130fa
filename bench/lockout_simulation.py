"""Lockout as a weapon and as a brake, simulated against the real login code on a fake clock.

Three simulated hours on a fresh SQLite database; the school's FMS polls once a minute from its own
address, and an attacker who knows the school's username plays one of these:

- ``lock``: keep the school locked with as few requests as possible (5 guesses, then one right
  after each lockout ends);
- ``guess``: guess as much as the service lets it, a guess every 5 s from 50 addresses in turn;
- ``ride``: 4 guesses right after each of the school's polls, from 50 addresses in turn (before
  issue 11 every success reset the count, so these were free);
- ``stale``: no attacker: the school's FMS holds a stale password for an hour, then is given the
  right one (seconds until it is served).

It uses only the public login API, so the same script measures another checkout:
``PYTHONPATH=/path/to/other/checkout python -m bench.lockout_simulation`` (run it from that
checkout's parent, or copy the file) gives the "before" figures.

    python -m bench.lockout_simulation
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eproc.config import load_settings
from eproc.services import accounts, authentication
from eproc.services.clock import ManualClock
from eproc.services.errors import AuthenticationFailed
from eproc.services.hub import Hub, build_hub
from eproc.store.migrate import upgrade
from eproc.store.models import Event
from eproc.store.repositories import EventRepository

PASSWORD = "simulated-school-password-1"
SCHOOL = "192.0.2.10"
HOURS = 3
START = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


@dataclass
class Result:
    scenario: str
    attacker_requests: int
    guesses_checked: int
    polls: int
    polls_served: int
    note: str = ""

    @property
    def availability(self) -> float:
        return 100.0 * self.polls_served / self.polls if self.polls else 100.0


def _hub(folder: Path, clock: ManualClock) -> Hub:
    url = f"sqlite:///{folder / 'sim.db'}"
    upgrade(url)
    settings = load_settings({
        "EPROC_DATABASE_URL": url, "EPROC_ARGON2_TIME_COST": "1", "EPROC_ARGON2_MEMORY_COST": "1024",
        "EPROC_ARGON2_PARALLELISM": "1",
    })
    hub = build_hub(settings, clock=clock)
    accounts.create_account(hub, "school", establishment_name="School", buyer_duns="123456789",
                            supplier_duns="987654321", password=PASSWORD)
    return hub


def _login(hub: Hub, password: str, address: str) -> bool:
    try:
        authentication.authenticate(hub, "school", password, address)
    except AuthenticationFailed:
        return False
    return True


def _checked(hub: Hub) -> int:
    """Attacker guesses that reached a real password check (the event says "wrong password")."""
    from sqlalchemy.orm import Session

    with Session(hub.store.engine) as session:
        rows: list[Event] = list(EventRepository(session).listing(type_="login.failed"))
    return sum(1 for e in rows if (e.detail or "").startswith("wrong password;"))


def _locked_until(hub: Hub) -> datetime | None:
    """When the attacker's next guess is worth sending (the lockout that applies to it ends)."""
    view = accounts.show_account(hub, "school")
    buckets = getattr(view, "buckets", ())
    if buckets:  # the smart lockout: the bucket of unfamiliar addresses
        return max((b.locked_until for b in buckets if b.locked_until), default=None)
    return view.locked_until


def simulate(scenario: str) -> Result:
    clock = ManualClock(START)
    with tempfile.TemporaryDirectory() as folder:
        hub = _hub(Path(folder), clock)
        _login(hub, PASSWORD, SCHOOL)  # the school has used the service before
        end = START + timedelta(hours=HOURS)
        polls = served = attacks = 0
        next_poll, next_attack = START, START
        guess = 0
        note = "never served"
        while clock.now() < end:
            now = clock.now()
            if scenario in ("lock", "guess") and now >= next_attack:
                guess += 1
                attacks += 1
                address = "203.0.113.7" if scenario == "lock" else f"198.51.100.{guess % 50 + 1}"
                _login(hub, f"guess-{guess}", address)
                if scenario == "lock":
                    if guess < 5:
                        next_attack = now + timedelta(seconds=1)
                    else:
                        until = _locked_until(hub)
                        next_attack = (until + timedelta(seconds=1)) if until else now + timedelta(seconds=1)
                else:
                    next_attack = now + timedelta(seconds=5)
            if now >= next_poll:
                polls += 1
                stale = scenario == "stale" and now < START + timedelta(hours=1)
                served += _login(hub, "last-terms-password" if stale else PASSWORD, SCHOOL)
                if scenario == "ride":
                    for _ in range(4):
                        guess += 1
                        attacks += 1
                        _login(hub, f"guess-{guess}", f"198.51.100.{guess % 50 + 1}")
                if scenario == "stale" and not stale and served == 1:
                    note = f"served {int((now - START).total_seconds()) - 3600}s after given the right password"
                next_poll = now + timedelta(seconds=60)
            clock.set(min(next_poll, next_attack) if scenario in ("lock", "guess") else next_poll)
        result = Result(scenario, attacks, _checked(hub) if scenario != "stale" else 0, polls, served)
        if scenario == "stale":
            result.note = note
            result.polls = polls - 60  # availability counted from the moment it has the right password
        hub.store.engine.dispose()
        return result


def main() -> None:
    import eproc

    print(f"eproc from {Path(eproc.__file__).parent}; {HOURS} simulated hours, a poll a minute")
    for scenario in ("lock", "guess", "ride", "stale"):
        r = simulate(scenario)
        print(
            f"{r.scenario:<6} attacker requests {r.attacker_requests:>5}  guesses checked {r.guesses_checked:>5}  "
            f"school polls served {r.polls_served:>4}/{r.polls:<4} ({r.availability:5.1f}%)  {r.note}"
        )


if __name__ == "__main__":
    main()
