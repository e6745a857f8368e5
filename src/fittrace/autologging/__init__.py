"""The autologging machinery every framework integration shares.

An integration says *what* to capture; this package decides *how*: it patches,
guards the user's call, manages runs, handles reentrancy and concurrency, reads
settings and environment variables, and discovers integrations.

Declaring an integration
------------------------
The declaration is loaded by ``fittrace.autolog()`` before any framework is
imported, so it must stay cheap: ``fittrace/<framework>/__init__.py`` holds
the settings and ``INTEGRATION`` and imports nothing heavy; the captures live
in ``_autolog.py``, imported only once the framework is::

    # fittrace/sklearn/__init__.py
    from fittrace.autologging import AutologSettings, Integration

    class SklearnSettings(AutologSettings):      # common options + own ones
        max_tuning_runs: int | None = 5

    INTEGRATION = Integration(
        name="sklearn", module="sklearn", distribution="scikit-learn",
        supported_versions=">=1.3", settings_class=SklearnSettings,
        install="fittrace.sklearn._autolog:install",
    )

    def autolog(**kwargs): INTEGRATION.autolog(**kwargs)

    # fittrace/sklearn/_autolog.py
    from fittrace.autologging import Call, Patcher

    def _capture_fit(call: Call):
        call.log_params(call.instance.get_params())   # before the original
        result = yield                               # the original runs here
        call.log_metrics({"training_score": ...})    # after it returned
        call.remember_run(call.instance)             # later evaluate() logs here

    def install(patcher: Patcher) -> None:           # runs when sklearn is imported
        from sklearn.base import BaseEstimator
        patcher.patch_subclasses(BaseEstimator, "fit", _capture_fit)

A third-party package adds an autologger with one entry point (built-in
integrations are found the same way)::

    [project.entry-points."fittrace.autologgers"]
    lightgbm = "fittrace_lightgbm:INTEGRATION"

``register(integration)`` adds one directly (tests, notebooks).

Captures
--------
A capture is a generator function ``capture(call)``. Code before ``yield``
runs before the original and may replace ``call.args`` / ``call.kwargs`` with
NEW objects (never mutate the caller's; see ``appended`` and
``Call.replace_arg``). ``result = yield`` receives the original's return value;
if the original raises, the exception is thrown in at the ``yield`` so the
capture can record the failure, and is then re-raised to the caller untouched.
A capture that returns before yielding records nothing more for that call (no
run is started unless it already logged), e.g. on a non-zero distributed rank.
The original is always called exactly once; every error of the capture or of
fittrace becomes one ``AutologgingWarning`` per integration and cause plus the
run tag ``mlflow.autologging.errors`` (``FITTRACE_TESTING=1`` raises
``fittrace.exceptions.AutologgingError`` instead); errors a capture catches
itself (in a callback it added) go through ``call.record_error(what, exc)``, and
``with call.guard(what):`` runs one recording step whose error is recorded so
without stopping the steps after it. Besides ``log_params``/``log_metrics``/
``log_text``/``log_dict``/``log_figure``, ``call.log_dataset(X, y, name, context)``
records training data as a run input, and
``call.log_model(flavor.log_model, model, example)`` logs the fitted model as the
common options ask (signature from ``example``, input example, registration).
``call.arguments(function)`` binds the call's arguments to a signature by name.

A declaration module keeps its flavor lazy with ``__getattr__ =
lazy_attributes(__name__, {"load_model": ".flavor", ...})``.

Patching (``Patcher``, handed to ``install``)
---------------------------------------------
- ``patch(owner, attr, capture, run=...)``: a method, classmethod or
  staticmethod of a class, or a module-level function (sync or ``async``).
- ``patch_subclasses(base, attr, capture, ...)``: also every subclass that
  defines ``attr`` itself, including classes defined after autolog was
  enabled (a user's estimator with its own ``fit``), through a reverted
  ``base.__init_subclass__`` hook; classes of another integration's framework
  are left to that integration.
- ``wrap(owner, attr, wrapper)``: a plain wrapt wrapper for hot paths, sharing
  the switch and records but not the capture protocol.
Patched functions pickle by reference and compare equal to the originals.

Runs (``run=`` of ``Patcher.patch``)
------------------------------------
- ``"managed"`` (fit-like calls): inside a user-started run, the first
  autologged call logs into it and every later one becomes a child run of it
  (so a tuner fitting many models in one run never hits "param already logged
  with another value"); ``exclusive=True`` leaves user runs alone (original
  only). Without an active run, a run tagged ``mlflow.autologging=<name>``
  (plus ``extra_tags``) is started lazily for the outermost call and ended
  FINISHED, or FAILED when the call raises (KeyboardInterrupt included).
- ``"model"`` (evaluate/score-like calls): logs into the run where
  ``call.instance`` was fitted (``call.remember_run``), else the active run,
  else records nothing.
- ``"active"``: logs only into the active run; records nothing without one.

Nested autologged calls (any integration, same thread or asyncio task) run the
original only, so ``Pipeline.fit -> step.fit`` records once, in the outermost
call. A capture records children on purpose with ``call.start_child_run()``;
``with child.activate():`` around user code (a tuner's objective) makes the
child the active run there and autologged calls outermost again, so a fit
inside logs into the child.
This state lives in a context variable: concurrent threads and asyncio tasks
each record their own runs, and a thread started inside an autologged call
begins outside it (run its work under ``contextvars.copy_context().run`` to
keep it nested).

Enabling
--------
``autolog(**common_options)`` (exported as ``fittrace.autolog``) enables every
installed integration lazily: nothing is imported early; an integration is
installed when its framework is imported (import order does not matter).
``unpatch()`` removes every patch, restoring the patched classes' and modules'
``__dict__`` exactly. Environment opt-in: see ``fittrace.autologging.env``.
"""

from __future__ import annotations

from fittrace._lazy import lazy_attributes

# Loaded on first use: ``fittrace.autolog()`` needs only the registry, and
# declaring an integration only ``Integration`` and ``AutologSettings``.
_EXPORTS = {
    **dict.fromkeys(("Call", "Capture", "ChildRun", "appended", "current_call"), ".call"),
    "Integration": ".integration",
    "Patcher": ".patching",
    **dict.fromkeys(
        (
            "autolog",
            "enable",
            "get_integration",
            "get_settings",
            "list_integrations",
            "register",
            "unpatch",
            "unregister",
        ),
        ".registry",
    ),
    **dict.fromkeys(("remember_run", "run_for"), ".runs"),
    "AutologgingWarning": ".safety",
    "AutologSettings": ".settings",
}
__getattr__ = lazy_attributes(__name__, _EXPORTS)

__all__ = [
    "AutologSettings",
    "AutologgingWarning",
    "Call",
    "Capture",
    "ChildRun",
    "Integration",
    "Patcher",
    "appended",
    "autolog",
    "current_call",
    "enable",
    "get_integration",
    "get_settings",
    "lazy_attributes",
    "list_integrations",
    "register",
    "remember_run",
    "run_for",
    "unpatch",
    "unregister",
]
