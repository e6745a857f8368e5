"""What a patched function does when called: reentrancy, run choice, and the guarded capture protocol.

The original is called exactly once with the caller's arguments (or the new
objects the capture put in ``call.args``/``call.kwargs``), and its result or
exception reaches the caller untouched. Everything else is guarded: an error
in the capture or in run management is reported (one warning per cause, the
``mlflow.autologging.errors`` tag on the run) and never fails the call,
except with ``FITTRACE_TESTING=1`` where it raises ``AutologgingError``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from fittrace.autologging import runs, safety
from fittrace.autologging.call import Call, _current
from fittrace.autologging.patching import PatchSpec
from fittrace.tracking import pending

Wrapped = Callable[..., Any]


def handler(spec: PatchSpec) -> Callable[[Wrapped, Any, tuple, dict], Any]:
    """The wrapt wrapper function for a synchronous original."""

    def autologged(wrapped: Wrapped, instance: Any, args: tuple, kwargs: dict) -> Any:
        if _current.get() is not None:
            return wrapped(*args, **kwargs)
        call = Call(spec, spec.settings(), instance, args, kwargs)
        token = _current.set(call)
        try:
            with pending.holding():  # deferred writes (estimator.html...) wait for the call
                gen = _before(call)
                try:
                    result = wrapped(*call.args, **call.kwargs)
                except BaseException as exc:
                    _after_failure(call, gen, exc)
                    raise
                _after_success(call, gen, result)
                return result
        finally:
            _current.reset(token)

    return autologged


def async_handler(spec: PatchSpec) -> Callable[[Wrapped, Any, tuple, dict], Any]:
    """The wrapt wrapper function for a coroutine function: the protocol runs inside the awaited coroutine."""

    async def autologged_async(wrapped: Wrapped, instance: Any, args: tuple, kwargs: dict) -> Any:
        if _current.get() is not None:
            return await wrapped(*args, **kwargs)
        call = Call(spec, spec.settings(), instance, args, kwargs)
        token = _current.set(call)
        try:
            with pending.holding():  # deferred writes (estimator.html...) wait for the call
                gen = _before(call)
                try:
                    result = await wrapped(*call.args, **call.kwargs)
                except BaseException as exc:
                    _after_failure(call, gen, exc)
                    raise
                _after_success(call, gen, result)
                return result
        finally:
            _current.reset(token)

    def autologged(wrapped: Wrapped, instance: Any, args: tuple, kwargs: dict) -> Any:
        return autologged_async(wrapped, instance, args, kwargs)

    return autologged


def _fail(call: Call, what: str, exc: Exception) -> None:
    call._errors.append(
        (safety.report(call.integration, what, exc, silent=call.settings.silent), exc)
    )


def _raise_in_testing(call: Call) -> None:
    if call._errors and safety.testing():
        brief, exc = call._errors[0]
        raise safety.testing_error(call.integration, brief, exc) from exc


def _resolve_run(call: Call) -> bool:
    """Choose the run before the capture runs; False means: call the original only."""
    active = runs.recorder.active_run_id()
    policy = call._spec.run
    if policy == "managed":
        if active is not None and call.settings.exclusive:
            return False
        call._user_run = active
        return True
    run_id = (runs.run_for(call.instance) if policy == "model" else None) or active
    call._run_id = run_id
    return run_id is not None


def _before(call: Call) -> Generator[None, Any, None] | None:
    """Run the capture up to its ``yield`` (starting a managed run); None if it records nothing."""
    gen = None
    with safety.silenced(call.settings.silent):
        try:
            if not _resolve_run(call):
                return None
            gen = call._spec.capture(call)
            try:
                next(gen)
            except StopIteration:
                return None
            call.run_id  # noqa: B018 - a managed run must be active while the original runs
            return gen
        except Exception as exc:
            call.args, call.kwargs = call._caller
            if gen is not None:
                _close(call, gen)
            _fail(call, f"{call.function} (before the call)", exc)
    if safety.testing():
        _finish(call, failed=True)
    return None


def _after_success(call: Call, gen: Generator[None, Any, None] | None, result: Any) -> None:
    with safety.silenced(call.settings.silent):
        if gen is not None:
            try:
                gen.send(result)
            except StopIteration:
                pass
            except Exception as exc:
                _fail(call, f"{call.function} (after the call)", exc)
            else:
                _close(call, gen)
                _fail(
                    call,
                    f"{call.function} (after the call)",
                    RuntimeError("capture yielded more than once"),
                )
    _finish(call, failed=False)


def _after_failure(call: Call, gen: Generator[None, Any, None] | None, exc: BaseException) -> None:
    """Let the capture see the exception, end the run FAILED; the caller re-raises ``exc``."""
    saved = exc.__traceback__, exc.__context__, exc.__cause__, exc.__suppress_context__
    try:
        with safety.silenced(call.settings.silent):
            if gen is not None:
                try:
                    gen.throw(exc)
                except StopIteration:
                    pass
                except BaseException as err:
                    if err is not exc:
                        if not isinstance(err, Exception):
                            raise
                        _fail(call, f"{call.function} (after a failed call)", err)
                else:
                    _close(call, gen)
    finally:
        exc.__traceback__, exc.__context__, exc.__cause__, exc.__suppress_context__ = saved
        _finish(call, failed=True)


def _close(call: Call, gen: Generator[None, Any, None]) -> None:
    try:
        gen.close()
    except Exception as exc:
        _fail(call, f"{call.function} (closing the capture)", exc)


def _finish(call: Call, failed: bool) -> None:
    """End children and the run this call started, and tag errors; each step guarded."""
    status = "FAILED" if failed else "FINISHED"
    with safety.silenced(call.settings.silent):
        for child in call._children:
            try:
                child.end(status)
            except Exception as exc:
                _fail(call, "ending a child run", exc)
        if call._errors and call._run_id is not None:
            try:
                call.set_tag(
                    safety.ERRORS_TAG, safety.errors_tag_value([brief for brief, _ in call._errors])
                )
            except Exception as exc:
                safety.report(
                    call.integration,
                    "recording errors on the run",
                    exc,
                    silent=call.settings.silent,
                )
        if call._owns_run:
            call._owns_run = False
            try:
                # the call returns first; its deferred writes (estimator.html) finish after
                with pending.not_awaited_at_end():
                    runs.recorder.end_run(call._run_id, status)  # type: ignore[arg-type]
            except Exception as exc:
                _fail(call, "ending the run", exc)
    _raise_in_testing(call)
