"""The ``fittrace`` command: look at experiments, runs, artifacts and registered models.

    fittrace [--tracking-uri URI] experiments [--all] [--json]
    fittrace runs [-e NAME_OR_ID ...] [--filter F] [--order-by X ...] [--max-results N] [--json]
    fittrace show RUN_ID [--json]
    fittrace diff RUN_A RUN_B [--json]
    fittrace artifacts list RUN_ID [PATH] [--json]
    fittrace artifacts download RUN_ID [PATH] [-d DST]
    fittrace models [--filter F] [--json]
    fittrace models versions NAME [--json]
    fittrace models alias set NAME ALIAS VERSION
    fittrace models alias delete NAME ALIAS
    fittrace run [--] COMMAND ...
    fittrace ui [--backend-store-uri URI] [--default-artifact-root ROOT] [--host H] [--port P]
    fittrace server [--backend-store-uri URI] [--artifacts-destination ROOT] [--host H] [--port P]
                    [--token-env NAME] [--max-upload-mb N]

``fittrace ui`` serves the read-only web UI (its tracking API answers reads only);
``fittrace server`` serves the UI and the tracking API, so training machines can log with
``FITTRACE_TRACKING_URI=http://host:port``.

Any error prints one line to stderr and exits with status 2. Only ``fittrace server`` creates a
store (a new deployment starts empty, as with ``mlflow server``); for every other command a
tracking URI naming a missing SQLite file is an error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fittrace.ui.markup import duration, size

if TYPE_CHECKING:
    from fittrace.entities import Experiment, Run
    from fittrace.tracking.client import Client

_METRIC_COLUMNS = 3
_PATCH_LINES = 200


class CliError(Exception):
    """A problem to report in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{message} (see '{self.prog} --help')")


# ------------------------------------------------------------------------------ output helpers


def _json_safe(value: Any) -> Any:
    """Non-finite floats become "NaN"/"Infinity"/"-Infinity" strings, as in MLflow's REST API."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _print_json(value: Any) -> None:
    print(json.dumps(_json_safe(value), indent=2, sort_keys=False))


def _table(
    rows: Sequence[Sequence[Any]], headers: Sequence[str] = (), right: Sequence[int] = ()
) -> None:
    """Print an aligned plain-text table; columns whose index is in ``right`` are right-aligned."""
    cells = [["" if c is None else str(c) for c in row] for row in rows]
    if headers:
        cells.insert(0, list(headers))
    if not cells:
        return
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    for row in cells:
        parts = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        print("  ".join(parts).rstrip())


def _time(ms: int | None) -> str:
    return "" if ms is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


# ------------------------------------------------------------------------------- store access


def _tracking_uri(args: argparse.Namespace) -> str:
    if args.tracking_uri:
        return args.tracking_uri
    import fittrace

    return fittrace.get_tracking_uri()


def _client(args: argparse.Namespace, create: bool = False) -> Client:
    """A Client for the chosen store, refusing to create a SQLite file that does not exist
    unless ``create``."""
    from fittrace.exceptions import InvalidUriError
    from fittrace.tracking import stores
    from fittrace.tracking.client import Client

    uri = _tracking_uri(args)
    if create or stores.is_postgres(uri) or stores.is_http(uri):
        return Client(uri)
    try:
        path = stores.sqlite_path(uri)
    except InvalidUriError as e:
        raise CliError(str(e)) from e
    if not os.path.isfile(path):
        raise CliError(
            f"No tracking store at {path} (tracking URI {uri!r}); "
            "pass --tracking-uri or set FITTRACE_TRACKING_URI to an existing store"
        )
    return Client(uri)


def _experiment(client: Client, name_or_id: str) -> Experiment:
    from fittrace.exceptions import ResourceNotFoundError

    experiment = client.get_experiment_by_name(name_or_id)
    if experiment is None and name_or_id.isdigit():
        try:
            experiment = client.get_experiment(name_or_id)
        except ResourceNotFoundError:
            experiment = None
    if experiment is None:
        raise CliError(
            f"No experiment named or numbered {name_or_id!r}; see 'fittrace experiments'"
        )
    return experiment


def _run_dict(run: Run) -> dict[str, Any]:
    data = run.to_dictionary()
    data["inputs"] = [dataclasses.asdict(d) for d in run.inputs.dataset_inputs]
    return data


# ----------------------------------------------------------------------------------- commands


def _cmd_experiments(args: argparse.Namespace) -> None:
    from fittrace.entities import ViewType

    client = _client(args)
    experiments = client.search_experiments(ViewType.ALL if args.all else ViewType.ACTIVE_ONLY)
    counts = client.count_runs()
    if args.json:
        _print_json(
            [{**dataclasses.asdict(e), "runs": counts.get(e.experiment_id, 0)} for e in experiments]
        )
        return
    rows = [
        [e.experiment_id, e.name, e.artifact_location, counts.get(e.experiment_id, 0)]
        + ([e.lifecycle_stage] if args.all else [])
        for e in experiments
    ]
    headers = ["ID", "NAME", "ARTIFACT LOCATION", "RUNS"] + (["STAGE"] if args.all else [])
    _table(rows, headers, right=(0, 3))


def _metric_keys(
    runs: Sequence[Run], requested: Sequence[str] | None, order_by: Sequence[str]
) -> list[str]:
    """Metric columns: the requested ones, else ordered-by metrics then the most common keys."""
    if requested:
        return list(requested)
    keys: list[str] = []
    for entry in order_by:
        words = entry.split()
        if words and words[-1].upper() in ("ASC", "DESC"):
            words.pop()
        head = " ".join(words)
        if head.startswith("metrics."):
            keys.append(head[len("metrics.") :].strip('`"'))
    counts = Counter(k for run in runs for k in run.data.metrics)
    for key, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if key not in keys:
            keys.append(key)
    return keys[:_METRIC_COLUMNS]


def _cmd_runs(args: argparse.Namespace) -> None:
    client = _client(args)
    if args.experiment:
        experiments = [_experiment(client, e) for e in args.experiment]
    else:
        experiments = client.search_experiments()
    ids = [e.experiment_id for e in experiments]
    runs = client.search_runs(
        ids, args.filter or "", max_results=args.max_results, order_by=args.order_by
    )
    if args.json:
        _print_json([_run_dict(r) for r in runs])
        return
    if not runs:
        print("No runs found.")
        return
    names = {e.experiment_id: e.name for e in experiments}
    show_experiment = len(experiments) > 1
    keys = _metric_keys(runs, args.metric, args.order_by or [])
    headers = [
        "RUN ID",
        "NAME",
        *(["EXPERIMENT"] if show_experiment else []),
        "STATUS",
        "START",
        "DURATION",
    ]
    headers += keys
    rows = []
    for run in runs:
        info = run.info
        row = [info.run_id, info.run_name]
        row += [names.get(info.experiment_id, info.experiment_id)] if show_experiment else []
        row += [info.status, _time(info.start_time), duration(info.start_time, info.end_time)]
        row += [_number(run.data.metrics.get(k)) for k in keys]
        rows.append(row)
    duration_column = len(headers) - len(keys) - 1
    _table(rows, headers, right=range(duration_column, len(headers)))


def _walk_artifacts(client: Client, run_id: str, path: str | None = None) -> list[Any]:
    """Every file and directory under ``path``, depth first."""
    found = []
    for info in client.list_artifacts(run_id, path):
        found.append(info)
        if info.is_dir:
            found.extend(_walk_artifacts(client, run_id, info.path))
    return found


def _cmd_show(args: argparse.Namespace) -> None:
    from fittrace.exceptions import ResourceNotFoundError

    client = _client(args)
    run = client.get_run(args.run_id)
    artifacts = _walk_artifacts(client, run.info.run_id)
    if args.json:
        _print_json({**_run_dict(run), "artifacts": [dataclasses.asdict(a) for a in artifacts]})
        return
    info = run.info
    try:
        experiment = client.get_experiment(info.experiment_id).name
    except ResourceNotFoundError:  # a run whose experiment row is gone still shows
        experiment = "?"
    print(f"Run {info.run_id} ({info.run_name})")
    _table(
        [
            ["  experiment", f"{experiment} ({info.experiment_id})"],
            ["  status", info.status],
            ["  start", _time(info.start_time)],
            ["  end", _time(info.end_time)],
            ["  duration", duration(info.start_time, info.end_time)],
            ["  user", info.user_id],
            ["  artifact uri", info.artifact_uri],
            ["  lifecycle", info.lifecycle_stage],
        ]
    )
    from fittrace.tracking import compare, provenance
    from fittrace.tracking.system_metrics import PREFIX as SYSTEM_PREFIX

    tags = run.data.tags
    code = [(k, v) for k, v in sorted(tags.items()) if k.startswith(compare.CODE_TAGS)]
    paths = {a.path for a in artifacts}
    if provenance.DIFF_FILE in paths:
        diff = compare.read_text(client, info.run_id, provenance.DIFF_FILE)
        code.append(("uncommitted changes", compare.describe_diff(diff)))
    if provenance.UNTRACKED_FILE in paths:
        listing = compare.read_text(client, info.run_id, provenance.UNTRACKED_FILE)
        code.append(("untracked files", compare.describe_untracked(listing)))
    metrics = sorted(run.data.metrics.items())
    sections = [
        ("Params", sorted(run.data.params.items())),
        ("Metrics", [(k, _number(v)) for k, v in metrics if not k.startswith(SYSTEM_PREFIX)]),
        (
            "System metrics (last)",
            [(k, _number(v)) for k, v in metrics if k.startswith(SYSTEM_PREFIX)],
        ),
        ("Code", code),
        (
            "Environment",
            [(k, v) for k, v in sorted(tags.items()) if k.startswith(compare.ENVIRONMENT_TAGS)],
        ),
        (
            "Tags",
            [
                (k, v)
                for k, v in sorted(tags.items())
                if not k.startswith(compare.CODE_TAGS + compare.ENVIRONMENT_TAGS)
            ],
        ),
        (
            "Datasets",
            [
                (d.name, f"digest {d.digest} {d.context}".rstrip())
                for d in run.inputs.dataset_inputs
            ],
        ),
        (
            "Artifacts",
            [(a.path + ("/" if a.is_dir else ""), size(a.file_size)) for a in artifacts],
        ),
    ]
    for title, items in sections:
        print(f"{title}:" if items else f"{title}: (none)")
        if items:
            _table([[f"  {k}", v] for k, v in items])


def _cmd_diff(args: argparse.Namespace) -> None:
    from fittrace.tracking import compare

    client = _client(args)
    result = compare.compare(client, args.run_a, args.run_b)
    if args.json:
        sections = {
            title: [{"key": k, "a": a, "b": b} for k, a, b in rows]
            for title, rows in result.sections.items()
        }
        _print_json(
            {
                "a": args.run_a,
                "b": args.run_b,
                "sections": sections,
                "patch_changes": result.patch_changes,
            }
        )
        return
    names = [client.get_run(r).info.run_name for r in (args.run_a, args.run_b)]
    print(f"A = {args.run_a} ({names[0]})")
    print(f"B = {args.run_b} ({names[1]})")
    same = [title for title, rows in result.sections.items() if not rows]
    for title, rows in result.sections.items():
        if rows:
            print(f"{title}:")
            _table([[f"  {k}", _absent(a), _absent(b)] for k, a, b in rows], ["", "A", "B"])
    if result.patch_changes:
        print("Uncommitted changes, A's diff -> B's diff:")
        for line in result.patch_changes[:_PATCH_LINES]:
            print(f"  {line}")
        if len(result.patch_changes) > _PATCH_LINES:
            print(f"  ... {len(result.patch_changes) - _PATCH_LINES} more lines (see --json)")
    if same:
        print(f"Same: {', '.join(same)}")


def _absent(value: str | None) -> str:
    return "(none)" if value is None else value


def _cmd_artifacts_list(args: argparse.Namespace) -> None:
    client = _client(args)
    client.get_run(args.run_id)
    artifacts = _walk_artifacts(client, args.run_id, args.path or None)
    if args.json:
        _print_json([dataclasses.asdict(a) for a in artifacts])
    elif not artifacts:
        print("No artifacts.")
    else:
        rows = [[a.path + ("/" if a.is_dir else ""), size(a.file_size)] for a in artifacts]
        _table(rows, ["PATH", "SIZE"], right=(1,))


def _cmd_artifacts_download(args: argparse.Namespace) -> None:
    client = _client(args)
    client.get_run(args.run_id)
    print(client.download_artifacts(args.run_id, args.path or "", args.dst_path))


def _cmd_models(args: argparse.Namespace) -> None:
    client = _client(args)
    models = list(client.search_registered_models(filter_string=args.filter or None))
    if args.json:
        _print_json([dataclasses.asdict(m) for m in models])
        return
    if not models:
        print("No registered models.")
        return
    rows = []
    for model in models:
        latest = max((int(v.version) for v in model.latest_versions), default=None)
        aliases = ", ".join(f"{a}->{v}" for a, v in sorted(model.aliases.items()))
        rows.append(
            [
                model.name,
                latest or "",
                aliases,
                _time(model.last_updated_timestamp),
                model.description,
            ]
        )
    _table(rows, ["NAME", "LATEST", "ALIASES", "UPDATED", "DESCRIPTION"], right=(1,))


def _cmd_model_versions(args: argparse.Namespace) -> None:
    client = _client(args)
    client.get_registered_model(args.name)
    quoted = args.name.replace("'", "''")
    versions = list(client.search_model_versions(f"name = '{quoted}'"))
    versions.sort(key=lambda v: int(v.version), reverse=True)
    if args.json:
        _print_json([dataclasses.asdict(v) for v in versions])
        return
    if not versions:
        print(f"Model {args.name!r} has no versions.")
        return
    rows = [
        [
            v.version,
            ", ".join(v.aliases),
            v.status,
            v.run_id or "",
            _time(v.creation_timestamp),
            v.source,
        ]
        for v in versions
    ]
    _table(rows, ["VERSION", "ALIASES", "STATUS", "RUN ID", "CREATED", "SOURCE"], right=(0,))


def _cmd_alias_set(args: argparse.Namespace) -> None:
    client = _client(args)
    client.set_registered_model_alias(args.name, args.alias, args.version)
    print(f"Model {args.name!r}: alias {args.alias!r} -> version {args.version}")


def _cmd_alias_delete(args: argparse.Namespace) -> None:
    client = _client(args)
    client.delete_registered_model_alias(args.name, args.alias)
    print(f"Model {args.name!r}: alias {args.alias!r} deleted")


def _cmd_run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise CliError("fittrace run: give the command to run, e.g. 'fittrace run python train.py'")
    if args.tracking_uri:  # the launched command finds its store through the environment
        os.environ["FITTRACE_TRACKING_URI"] = args.tracking_uri
    from fittrace.autologging import launcher

    return launcher.main(command)


def _cmd_copy(args: argparse.Namespace) -> None:
    """Copy an MLflow store into this one (import) or this one into an MLflow store (export)."""
    from fittrace import migration

    if args.command_name == "import":
        counts = migration.import_from_mlflow(
            args.from_mlflow, args.experiment, progress=True, tracking_uri=_tracking_uri(args)
        )
    else:
        _client(args)  # the store to export must exist
        counts = migration.export_to_mlflow(
            args.to_mlflow, args.experiment, progress=True, tracking_uri=_tracking_uri(args)
        )
    if args.json:
        _print_json(dataclasses.asdict(counts))
    else:
        print("\n".join(counts.lines()))


def _server_token(args: argparse.Namespace) -> str | None:
    """The token the server requires: from the variable --token-env names, else FITTRACE_SERVER_TOKEN."""
    name = args.token_env or "FITTRACE_SERVER_TOKEN"
    token = os.environ.get(name, "").strip()
    if args.token_env and not token:
        raise CliError(f"--token-env {name}: the environment variable {name} is not set or empty")
    return token or None


def _cmd_ui(args: argparse.Namespace) -> None:
    """Serve the web UI (and, for 'server', the writable tracking API) over the store until Ctrl-C."""
    if args.artifact_root:  # as FITTRACE_ARTIFACT_ROOT: where new experiments put artifacts
        os.environ["FITTRACE_ARTIFACT_ROOT"] = args.artifact_root
    args.tracking_uri = args.backend_store_uri or args.tracking_uri
    from fittrace.tracking import stores

    if stores.is_http(_tracking_uri(args)):
        raise CliError(
            f"fittrace {args.command_name} serves a SQLite or PostgreSQL store, not another "
            f"server's ({_tracking_uri(args)}); pass --backend-store-uri"
        )
    writable = args.command_name == "server"
    client = _client(args, create=writable)  # the read-only UI refuses a store that does not exist
    from fittrace import ui

    token = _server_token(args)
    try:
        server = ui.make_server(
            client.tracking_uri,
            args.host,
            args.port,
            writable=writable,
            token=token,
            max_upload=args.max_upload_mb << 20,
        )
    except OSError as e:
        raise CliError(f"Cannot serve on {args.host}:{args.port}: {e.strerror or e}") from e
    if writable and not token and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"fittrace: warning: anyone who can reach {args.host}:{args.port} can write to this store; "
            "set FITTRACE_SERVER_TOKEN (or --token-env) to require a token",
            file=sys.stderr,
            flush=True,
        )
    ui.serve(server)


# ------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fittrace`` command."""
    parser = _Parser(prog="fittrace", description="Inspect fittrace experiments, runs and models.")
    parser.add_argument(
        "--tracking-uri",
        help="store to read (default: FITTRACE_TRACKING_URI, else sqlite:///fitruns/fittrace.db)",
    )
    json_flag = _Parser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="print machine-readable JSON")
    commands = parser.add_subparsers(dest="command_name", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    p = commands.add_parser("experiments", parents=[json_flag], help="list experiments")
    p.add_argument("--all", action="store_true", help="include deleted experiments")
    p.set_defaults(handler=_cmd_experiments)

    p = commands.add_parser("runs", parents=[json_flag], help="list or search runs")
    p.add_argument(
        "-e", "--experiment", action="append", metavar="NAME_OR_ID", help="repeatable; default: all"
    )
    p.add_argument(
        "--filter", metavar="F", help="e.g. \"metrics.rmse < 0.5 AND params.alpha = '0.1'\""
    )
    p.add_argument("--order-by", nargs="+", metavar="X", help="e.g. 'metrics.rmse ASC' start_time")
    p.add_argument(
        "--max-results", type=_positive_int, default=100, metavar="N", help="default 100"
    )
    p.add_argument(
        "--metric", action="append", metavar="KEY", help="metric column to show (repeatable)"
    )
    p.set_defaults(handler=_cmd_runs)

    p = commands.add_parser(
        "show", parents=[json_flag], help="a run's params, metrics, tags and artifacts"
    )
    p.add_argument("run_id")
    p.set_defaults(handler=_cmd_show)

    p = commands.add_parser(
        "diff",
        parents=[json_flag],
        help="what differs between two runs: params, metrics, data, code, packages, environment",
    )
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.set_defaults(handler=_cmd_diff)

    artifacts = commands.add_parser("artifacts", help="list or download a run's artifacts")
    artifact_commands = artifacts.add_subparsers(
        dest="artifacts_command", metavar="ACTION", parser_class=_Parser
    )
    artifact_commands.required = True
    p = artifact_commands.add_parser("list", parents=[json_flag], help="list artifacts recursively")
    p.add_argument("run_id")
    p.add_argument("path", nargs="?", help="a directory inside the run's artifacts")
    p.set_defaults(handler=_cmd_artifacts_list)
    p = artifact_commands.add_parser("download", help="download artifacts and print the local path")
    p.add_argument("run_id")
    p.add_argument(
        "path", nargs="?", help="file or directory inside the run's artifacts (default: all)"
    )
    p.add_argument("-d", "--dst-path", help="local destination directory (default: a new temp dir)")
    p.set_defaults(handler=_cmd_artifacts_download)

    models = commands.add_parser("models", parents=[json_flag], help="registered models")
    models.add_argument("--filter", metavar="F", help="e.g. \"name LIKE 'fraud%%'\"")
    models.set_defaults(handler=_cmd_models)
    model_commands = models.add_subparsers(
        dest="models_command", metavar="ACTION", parser_class=_Parser
    )
    p = model_commands.add_parser(
        "versions", parents=[json_flag], help="versions of a registered model"
    )
    p.add_argument("name")
    p.set_defaults(handler=_cmd_model_versions)
    alias = model_commands.add_parser("alias", help="point an alias at a version, or remove it")
    alias_commands = alias.add_subparsers(
        dest="alias_command", metavar="ACTION", parser_class=_Parser
    )
    alias_commands.required = True
    p = alias_commands.add_parser("set", help="set NAME's ALIAS to VERSION")
    p.add_argument("name")
    p.add_argument("alias")
    p.add_argument("version", type=_positive_int)
    p.set_defaults(handler=_cmd_alias_set)
    p = alias_commands.add_parser("delete", help="remove NAME's ALIAS")
    p.add_argument("name")
    p.add_argument("alias")
    p.set_defaults(handler=_cmd_alias_delete)

    serving = _Parser(add_help=False)
    serving.add_argument(
        "--backend-store-uri", metavar="URI", help="store to serve (default: --tracking-uri's)"
    )
    serving.add_argument(
        "--default-artifact-root",
        "--artifacts-destination",
        dest="artifact_root",
        metavar="ROOT",
        help="artifact root of new experiments, as FITTRACE_ARTIFACT_ROOT",
    )
    serving.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    serving.add_argument("--port", type=_port, default=5000, help="default 5000")
    serving.add_argument(
        "--token-env",
        metavar="NAME",
        help="require the token in environment variable NAME of every request "
        "(default: FITTRACE_SERVER_TOKEN, if set); clients send FITTRACE_TRACKING_TOKEN",
    )
    serving.add_argument(
        "--max-upload-mb",
        type=_positive_int,
        default=2048,
        metavar="N",
        help="largest artifact file the tracking API accepts, in MiB (default 2048)",
    )
    for name, what in (
        ("ui", "serve the read-only web UI (the tracking API answers reads only)"),
        (
            "server",
            "serve the web UI and the tracking API: training machines log with "
            "FITTRACE_TRACKING_URI=http://HOST:PORT, no database or storage credentials",
        ),
    ):
        p = commands.add_parser(name, parents=[serving], help=what, description=what)
        p.set_defaults(handler=_cmd_ui)

    for name, option, what in (
        (
            "import",
            "--from-mlflow",
            "copy an MLflow store (any MLflow tracking URI) into this store",
        ),
        ("export", "--to-mlflow", "copy this store into an MLflow store (any MLflow tracking URI)"),
    ):
        p = commands.add_parser(
            name,
            parents=[json_flag],
            help=what,
            description=what + ("; run again, only what is new is copied"),
        )
        p.add_argument(option, required=True, metavar="URI", help="the MLflow tracking URI")
        p.add_argument(
            "-e", "--experiment", action="append", metavar="NAME", help="repeatable; default: all"
        )
        p.set_defaults(handler=_cmd_copy)

    # No option parsing after 'run': everything belongs to the launched command.
    p = commands.add_parser(
        "run", help="run a command with autologging on", prefix_chars="\0", add_help=False
    )
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command, e.g. python train.py")
    p.set_defaults(handler=_cmd_run)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit() and int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"expected a port number (0 to 65535), got {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fittrace`` command; return its exit status."""
    from fittrace.exceptions import FittraceError

    try:
        args = build_parser().parse_args(argv)
        result = args.handler(args)
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except (CliError, FittraceError) as e:
        print(f"fittrace: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # fittrace runs | head
        return 0
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
