"""``fittrace run [options] <command>``: run a program with autologging on, its code unchanged.

The command runs with a ``sitecustomize`` bootstrap folder first on
``PYTHONPATH`` and the ``FITTRACE_AUTOLOG*`` variables set; the bootstrap
enables autologging in the Python process started, then runs the user's own
``sitecustomize`` and restores the environment so that child processes are not
bootstrapped again, unless ``--subprocesses`` is given. ``--as-mlflow`` also makes
``import mlflow`` import fittrace (``fittrace.compat.install_as_mlflow``). A command that is a
``.py`` file runs with the current interpreter. Python's isolated mode (``-I``)
ignores ``PYTHONPATH`` and so the bootstrap.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

BOOTSTRAP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bootstrap")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fittrace run",
        description="Run a command with fittrace autologging on (e.g. fittrace run python train.py).",
    )
    parser.add_argument(
        "--only", metavar="NAMES", help="comma list of integrations to enable (default: all)"
    )
    parser.add_argument(
        "--disable", metavar="NAMES", help="comma list of integrations to leave off"
    )
    parser.add_argument(
        "--set",
        metavar="OPTION=VALUE",
        action="append",
        default=[],
        help="an autolog option, e.g. --set log_models=false (repeatable)",
    )
    parser.add_argument(
        "--subprocesses",
        action="store_true",
        help="also enable autologging in Python child processes",
    )
    parser.add_argument(
        "--as-mlflow",
        action="store_true",
        help="run an unmodified MLflow script: `import mlflow` (and mlflow.<sub>) imports fittrace",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the program and its arguments")
    return parser


def build_environment(
    base: Mapping[str, str],
    only: str | None = None,
    disable: str | None = None,
    options: Mapping[str, str] | None = None,
    subprocesses: bool = False,
    as_mlflow: bool = False,
) -> dict[str, str]:
    """The environment for the command: bootstrap on PYTHONPATH, autolog variables, what to restore."""
    env = dict(base)
    changed = {
        "PYTHONPATH": os.pathsep.join(filter(None, (BOOTSTRAP_DIR, base.get("PYTHONPATH")))),
        "FITTRACE_AUTOLOG": only or "all",
    }
    if disable:
        changed["FITTRACE_AUTOLOG_DISABLED"] = disable
    if as_mlflow:
        changed["FITTRACE_AS_MLFLOW"] = "1"
    for option, value in (options or {}).items():
        changed["FITTRACE_AUTOLOG_" + option.upper()] = value
    if not subprocesses:
        env["FITTRACE_AUTOLOG_BOOTSTRAP"] = json.dumps({key: base.get(key) for key in changed})
    env.update(changed)
    return env


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``fittrace run``; returns the command's exit status (or replaces this process)."""
    parser = _parser()
    args = parser.parse_args(argv)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        parser.error("give the command to run, e.g. fittrace run python train.py")
    if command[0].endswith(".py"):
        command = [sys.executable, *command]
    options = {}
    for item in args.set:
        option, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set needs OPTION=VALUE, got {item!r}")
        options[option.strip()] = value
    env = build_environment(
        os.environ, args.only, args.disable, options, args.subprocesses, args.as_mlflow
    )
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        try:
            os.execvpe(command[0], command, env)
        except OSError as exc:
            parser.exit(127, f"fittrace run: cannot run {command[0]!r}: {exc.strerror}\n")
    try:
        return subprocess.call(command, env=env)
    except OSError as exc:
        parser.exit(127, f"fittrace run: cannot run {command[0]!r}: {exc.strerror}\n")
    return 127


if __name__ == "__main__":
    sys.exit(main())
