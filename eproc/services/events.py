"""The one list of event kinds: every state change is logged as one of these."""

from __future__ import annotations

EVENT_KINDS: dict[str, str] = {
    "queued": "a portal queued a document for a school",
    "collected": "FMS fetched a document (FetchDoc)",
    "processed": "FMS marked a document processed",
    "unprocessed": "FMS marked a document unprocessed again",
    "expired": "a document expired uncollected",
    "purged": "a document was removed by 'eproc purge'",
    "order_received": "FMS sent an Authorised Order (or an amended revision)",
    "order_duplicate": "FMS re-sent an Authorised Order already stored",
    "password_changed": "a password was changed (ChangePassword or an admin's reset)",
    "login_failed": "an FMS call failed to authenticate (the reason is in the detail)",
    "login_locked": "a username or a client address was locked out after failed logins",
    "account_created": "an admin created a school account",
    "account_disabled": "an admin disabled an account",
    "account_enabled": "an admin enabled an account",
    "account_unlocked": "an admin lifted a lockout",
}
