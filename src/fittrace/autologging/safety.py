"""The guard around fittrace's own code: errors become one warning per integration and cause.

``FITTRACE_TESTING=1`` raises them instead, as ``AutologgingError`` chained to
the cause. ``silent=True`` suppresses these warnings and fittrace's own log
records and warnings while autologging code runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import threading
import warnings
from collections.abc import Iterator

from fittrace import tags
from fittrace.exceptions import AutologgingError

_logger = logging.getLogger("fittrace.autologging")
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ERRORS_TAG = tags.AUTOLOGGING_ERRORS
_TAG_LIMIT = 5000

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()
_silent: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "fittrace_autolog_silent", default=False
)
_silencer_installed = False
_filtered_loggers: set[str] = set()


class AutologgingWarning(UserWarning):
    """Something went wrong inside fittrace's autologging; the user's call itself was not affected."""


def testing() -> bool:
    """Whether ``FITTRACE_TESTING`` asks autologging errors to raise."""
    return os.environ.get("FITTRACE_TESTING", "").strip().lower() in ("1", "true", "yes", "on")


def describe(exc: BaseException) -> str:
    """A one-line summary of an exception for warnings and the errors tag."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _cause(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else ""
    return f"{type(exc).__qualname__}@{where}"


def report(integration: str, what: str, exc: BaseException, *, silent: bool = False) -> str:
    """Note an error in fittrace's code for ``integration`` while doing ``what``.

    Warns once per integration and cause (not in testing mode, where the
    caller raises ``testing_error`` instead, nor when ``silent``), logs the
    traceback at DEBUG and returns the brief text for the errors tag.
    """
    brief = f"{what}: {describe(exc)}"
    _logger.debug("autologging for %s failed in %s", integration, what, exc_info=exc)
    if testing():
        return brief
    key = (integration, _cause(exc))
    with _warned_lock:
        first = key not in _warned
        _warned.add(key)
    if first and not silent:
        warn(
            f"fittrace autologging for {integration!r} failed in {brief}. The call itself was not "
            "affected, but the run may be incomplete (tag mlflow.autologging.errors); this "
            "warning is shown once per cause."
        )
    return brief


def testing_error(integration: str, brief: str, exc: BaseException) -> AutologgingError:
    """The error to raise in testing mode; chain it to ``exc`` with ``raise ... from exc``."""
    return AutologgingError(f"fittrace autologging for {integration!r} failed in {brief}")


def warn(message: str) -> None:
    """Emit an AutologgingWarning; a warnings filter set to "error" cannot turn it into a failed fit."""
    if _silent.get():
        return
    try:
        warnings.warn(message, AutologgingWarning, stacklevel=3)
    except Exception:
        _logger.warning(message)


def errors_tag_value(briefs: list[str]) -> str:
    text = "\n".join(dict.fromkeys(briefs))
    return text if len(text) <= _TAG_LIMIT else text[: _TAG_LIMIT - 3] + "..."


_NOT_SILENCED = contextlib.nullcontext()


def silenced(active: bool) -> contextlib.AbstractContextManager[None]:
    """While active, drop fittrace's log records and warnings raised from fittrace's code (this context only)."""
    return _silenced() if active else _NOT_SILENCED


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    _install_silencer()
    token = _silent.set(True)
    try:
        yield
    finally:
        _silent.reset(token)


class _SilentFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _silent.get()


_SILENT_FILTER = _SilentFilter()


def _install_silencer() -> None:
    global _silencer_installed
    loggers = logging.root.manager.loggerDict
    if len(_filtered_loggers) != len(
        loggers
    ):  # filters do not apply to records propagated from children
        for name in list(loggers):
            if name not in _filtered_loggers and (
                name == "fittrace" or name.startswith("fittrace.")
            ):
                logging.getLogger(name).addFilter(_SILENT_FILTER)
        _filtered_loggers.update(loggers)
    if _silencer_installed:
        return
    _silencer_installed = True
    logging.getLogger("fittrace").addFilter(_SILENT_FILTER)
    previous = warnings.showwarning

    def showwarning(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        if _silent.get() and os.path.abspath(filename).startswith(_PACKAGE_DIR):
            return
        previous(message, category, filename, lineno, file, line)

    warnings.showwarning = showwarning


def reset_warnings() -> None:
    """Forget which causes were already warned about (tests)."""
    with _warned_lock:
        _warned.clear()
