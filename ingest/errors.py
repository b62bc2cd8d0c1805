"""The project's exceptions: one root, and an exit code for the CLI on each kind."""

from __future__ import annotations

from ingest.redaction import redact


class PeoplestackError(Exception):
    """Anything the CLI reports as one clear line; exit code 1 unless a subclass says otherwise.

    Every message is masked of known secrets here, where it is made: it may quote an API's
    answer (a token server that echoes its request) and go on to the console and the ledger.
    """

    exit_code = 1

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(redact(str(message)), *args)


class ConfigurationError(PeoplestackError):
    """A missing or invalid setting, or a wrong command line (exit code 2)."""

    exit_code = 2


class WarehouseError(PeoplestackError):
    """The warehouse cannot be reached, started or stopped."""


class SourceError(PeoplestackError):
    """A source API answered in a way the loader cannot trust."""


class RunLockedError(PeoplestackError):
    """Another run holds the warehouse's run lock."""


class RunLockLostError(PeoplestackError):
    """The run's lock vanished while it ran (warehouse restart, dropped connection)."""


class RunDeadlineError(PeoplestackError):
    """The run passed ``ingest.run_deadline_minutes``: the resource in progress loads nothing.

    Not a SourceError, so code that tolerates one record's or one learner's source error
    never swallows it."""


def describe(exc: BaseException) -> str:
    """The most telling message in an exception chain (dlt wraps step failures), masked."""
    seen: BaseException | None = exc
    innermost = exc
    while seen is not None:
        if isinstance(seen, PeoplestackError):
            return str(seen)
        innermost = seen
        # dlt's PipelineStepFailed keeps the step's own exception in ``.exception``.
        inner = getattr(seen, "exception", None)
        seen = inner if isinstance(inner, BaseException) else seen.__cause__ or seen.__context__
    text = " ".join(str(innermost).split())
    return redact(f"{type(innermost).__name__}: {text[:500]}")
