"""One exception hierarchy for everything fittrace raises on purpose."""

from __future__ import annotations


class FittraceError(Exception):
    """Base class of every error fittrace raises deliberately."""


MlflowException = FittraceError
"""MLflow's name for the base class, so ``except mlflow.exceptions.MlflowException`` catches fittrace's errors."""


class InvalidParameterError(FittraceError, ValueError):
    """A key, value, name or argument that fittrace cannot accept."""


class ParamConflictError(InvalidParameterError):
    """A param was logged again in the same run with a different value (HTTP 409 from a server)."""

    @classmethod
    def between(cls, run_id: str, key: str, old: str, new: str) -> ParamConflictError:
        return cls(
            f"Param {key!r} was already logged with value {old!r} in run {run_id}; "
            f"cannot change it to {new!r}. Params are immutable: log a new run, or use a metric "
            "or tag for values that change."
        )


class ResourceNotFoundError(FittraceError, LookupError):
    """An experiment, run, artifact, model or version that does not exist."""


class ResourceAlreadyExistsError(FittraceError):
    """Creating something whose name is already taken."""


class InvalidFilterError(InvalidParameterError):
    """A search filter string that does not parse; the message points at the token."""


class StoreError(FittraceError):
    """The tracking store could not be opened or written."""


class InvalidUriError(InvalidParameterError):
    """A tracking, artifact or model URI fittrace does not understand."""


class SignatureEnforcementError(FittraceError, ValueError):
    """Model input that does not match the model's signature."""


class AutologgingError(FittraceError):
    """An error inside fittrace's autologging code (raised only with FITTRACE_TESTING=1)."""


class StoreWarning(UserWarning):
    """Run data could not be stored: a row the store refused was dropped, or the store refuses writes."""
