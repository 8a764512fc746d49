"""Typed request errors: each carries the field to fix and the kind of rule it broke.

Surfaces map an error by its type and `kind`, never by its wording: the CLI prints
it, each HTTP contract turns a kind into its own status and code (api/errors.py),
and the job worker stores it as the job's error. Messages are for people and may
be reworded freely.
"""

from __future__ import annotations

# The kinds a request error can be; api/errors.py gives each one a status per contract.
KINDS = ("invalid", "missing", "unknown_model", "prompt_too_long", "too_costly")


class FieldError(ValueError):
    """A value that breaks a rule. `field` names what to fix, `kind` the rule's family."""

    kind: str = "invalid"
    job_code = "invalid_request"  # the code a failed job records (jobs/worker.py)

    def __init__(self, field: str, message: str, kind: str | None = None):
        self.field = field
        self.message = message
        if kind is not None:
            if kind not in KINDS:
                raise ValueError(f"unknown error kind {kind!r}")
            self.kind = kind
        super().__init__(f"{field}: {message}" if field else message)
