"""The DfE Accounts Return (AR) toolkit: an exact validator, a chart-of-accounts store, a tidier, a client for the
DfE's consent flow and submissions API, and an offline sandbox of the DfE service.

Standalone: nothing here imports the e-procurement side of eproc.
"""

from __future__ import annotations

from .validator import Options, Problem, Result, validate

__all__ = ["Options", "Problem", "Result", "validate"]
