"""Checking documents without queueing them: what ``eproc validate`` and ``eproc checksum`` do,
and what the portal API's validate call will do."""

from __future__ import annotations

from dataclasses import dataclass

from eproc import ebis
from eproc.services import accounts, intake
from eproc.services.errors import InvalidDocument
from eproc.services.hub import Hub


def validate_document(
    hub: Hub, data: bytes, *, requested_type: str | None = None, username: str | None = None
) -> ebis.ValidationReport:
    """The report ``queue_document`` would act on; with ``username``, also the account's checks.

    Raises :class:`~eproc.services.errors.NotFound` for an unknown account.
    """
    intake.check_requested_type(requested_type)
    expectations = None
    if username is not None:
        view = accounts.show_account(hub, username)
        expectations = ebis.AccountExpectations(view.buyer_duns, view.supplier_duns, view.language, view.currency)
    inspection = intake.inspect(hub, data)
    return ebis.check_content(
        inspection, requested_type=requested_type, expectations=expectations, registry=hub.schemas
    )


@dataclass(frozen=True)
class ChecksumReading:
    stated: int | None
    expected: int
    # The document with the expected checksum written in; None when asked not to, or already right.
    filled: bytes | None = None

    @property
    def correct(self) -> bool:
        return self.stated == self.expected


def read_checksum(hub: Hub, data: bytes, *, fill: bool = False) -> ChecksumReading:
    """The stated and the expected checksum; with ``fill``, also the document with it written in.

    Raises :class:`InvalidDocument` when the bytes are not an eBIS document or have no checksum.
    """
    inspection = intake.inspect(hub, data)
    if inspection.rejection is not None:
        raise InvalidDocument(inspection.rejection.message)
    try:
        if inspection.document is None or inspection.checksum is None:
            assert inspection.root is not None
            raise ebis.XmlRejected(ebis.describe_root(inspection.root))
        expected = inspection.checksum.expected
        if expected is None:
            raise ebis.ChecksumUnavailable(inspection.checksum.unavailable)
        stated = ebis.read_stated(inspection.document)[1]
        filled = None
        if fill and stated != expected:
            filled = ebis.fill_checksum_of(inspection, max_bytes=hub.settings.max_request_bytes).data
    except (ebis.XmlRejected, ebis.ChecksumUnavailable) as exc:
        raise InvalidDocument(str(exc)) from None
    return ChecksumReading(stated, expected, filled)

