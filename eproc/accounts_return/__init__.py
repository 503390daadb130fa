"""The DfE Accounts Return (AR) toolkit: an exact validator, a chart-of-accounts store, a tidier, a client for the
DfE's consent flow and submissions API, and an offline sandbox of the DfE service.

Standalone: nothing here imports the e-procurement side of eproc.
"""

from __future__ import annotations

from .client import Client, ClientError, Config, ConfigError, DfeError, load_config, profiles
from .coa import CoaError, CoaStore
from .tidy import tidy_bytes, tidy_text
from .validator import CodeList, Options, Problem, Result, TrustStatus, validate

__all__ = ["Client", "ClientError", "CoaError", "CoaStore", "CodeList", "Config", "ConfigError", "DfeError",
           "Options", "Problem", "Result", "TrustStatus", "load_config", "profiles", "tidy_bytes", "tidy_text",
           "validate"]
