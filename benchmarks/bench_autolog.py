"""Costs of the autolog machinery: enabling, interpreter start-up with the .pth, wrapper overhead.

Run: python benchmarks/bench_autolog.py [--runs N]

1. ``fittrace.autolog()`` in a fresh interpreter with no framework imported,
   from .pyc files as after ``pip install``, split into importing the
   registry, loading the integrations' declarations and the call proper
   (asserts afterwards that no framework got imported).
2. Start-up of a virtual environment with the wheel (and its .pth) installed
   and FITTRACE_AUTOLOG unset, against the same environment without the .pth.
3. Per-call overhead of a patched no-op method: unpatched, patched but
   disabled (target <= 2 us), enabled inside another autologged call (the
   reentrant fast path), enabled with no run to log into, and enabled with a
   managed run per call (SQLite store in a temp dir).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

from _env import child_env

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("sklearn", "xgboost", "tensorflow", "keras", "torch", "lightning", "numpy", "pandas")

AUTOLOG_PROBE = f"""
import json, sys, time
t0 = time.perf_counter()
import fittrace
t1 = time.perf_counter()
import fittrace.autologging.registry
t2 = time.perf_counter()
fittrace.autologging.list_integrations()
t3 = time.perf_counter()
fittrace.autolog()
t4 = time.perf_counter()
fittrace.autolog()
t5 = time.perf_counter()
loaded = [m for m in {FRAMEWORKS!r} if m in sys.modules]
print(json.dumps({{"times": [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t1, t5 - t4], "frameworks": loaded}}))
"""
PARTS = (
    "import fittrace",
    "import the autolog registry",
    "load the integrations' declarations (entry points)",
    "fittrace.autolog() proper (settings, import hooks)",
    "total of the first fittrace.autolog() (target <= 10 ms)",
    "a second fittrace.autolog()",
)


def bench_autolog_call(runs: int) -> list[tuple[str, str]]:
    env = child_env()
    command = [sys.executable, "-c", AUTOLOG_PROBE]
    subprocess.run(command, capture_output=True, check=True, env=env)  # byte-compiles
    samples = []
    for _ in range(runs):
        proc = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["frameworks"] == [], f"fittrace.autolog() imported {out['frameworks']}"
        samples.append(out["times"])
    return [
        (f"{part} [fresh interpreter]", _ms(statistics.median(s[i] for s in samples)))
        for i, part in enumerate(PARTS)
    ]


def _venv_with_wheel(base: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"import hatchling.build as b; b.build_wheel({str(base / 'dist')!r})",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = (base / "dist").glob("fittrace-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base / "venv")], check=True)
    python = base / "venv" / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return python


def bench_startup(runs: int) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        python = _venv_with_wheel(Path(tmp))
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        pth = Path(site) / "fittrace_autolog.pth"
        hidden = pth.with_suffix(".off")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FITTRACE_", "PYTHON"))}
        with_pth, without = [], []
        for _ in range(runs):  # alternate to spread machine noise over both
            for bucket in (with_pth, without):
                if bucket is without:
                    pth.rename(hidden)
                t0 = time.perf_counter()
                subprocess.run([str(python), "-c", "pass"], env=env, check=True)
                bucket.append(time.perf_counter() - t0)
                if bucket is without:
                    hidden.rename(pth)
        probe = (
            "import site, timeit; "
            f"print(timeit.timeit(lambda: site.addpackage({site!r}, 'fittrace_autolog.pth', set()), number=2000) / 2000)"
        )
        direct = float(
            subprocess.run(
                [str(python), "-c", probe], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
    a, b = statistics.median(with_pth), statistics.median(without)
    return [
        ("python -c pass, .pth installed, FITTRACE_AUTOLOG unset", _ms(a)),
        ("python -c pass, same venv without the .pth", _ms(b)),
        ("difference of the medians (noise-limited)", _ms(a - b)),
        ("site processing the .pth itself, variable unset", _us(direct)),
    ]


def bench_wrapper(number: int) -> list[tuple[str, str]]:
    os.environ["FITTRACE_TRACKING_URI"] = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    from fittrace import autologging
    from fittrace.autologging import Integration, registry

    class Estimator:
        def noop(self):
            return None

        def active_only(self):
            return None

        def managed(self):
            return None

        def outer(self):
            timed.append(timeit.timeit(self.noop, number=number) / number)

    def capture(call):
        yield

    module = type(sys)("bench_fake_framework")
    module.__file__ = __file__  # a namespace package (no __file__) would not be patched
    module.Estimator = Estimator
    sys.modules[module.__name__] = module

    def install(patcher):
        patcher.patch(Estimator, "noop", capture)
        patcher.patch(Estimator, "outer", capture)
        patcher.patch(Estimator, "active_only", capture, run="active")
        patcher.patch(Estimator, "managed", capture)

    est = Estimator()
    plain = vars(Estimator)["noop"]
    rows = [("unpatched no-op method call", _us(timeit.timeit(est.noop, number=number) / number))]
    registry.register(Integration(name="bench", module=module.__name__, install=install))
    autologging.enable("bench", disable=True)
    autologging.enable("bench")
    autologging.enable("bench", disable=True)
    assert vars(Estimator)["noop"] is not plain, "the benchmark's method was not patched"
    rows.append(
        ("patched, autologging disabled", _us(timeit.timeit(est.noop, number=number) / number))
    )
    autologging.enable("bench")
    timed: list[float] = []
    est.outer()
    rows.append(("patched, enabled, nested in an autologged call", _us(timed[0])))
    rows.append(
        (
            "patched, enabled, run='active' with no active run",
            _us(timeit.timeit(est.active_only, number=number) / number),
        )
    )
    n = max(20, number // 5000)
    rows.append(
        (
            "patched, enabled, a managed run per call (SQLite)",
            _ms(timeit.timeit(est.managed, number=n) / n),
        )
    )
    autologging.unpatch()
    return rows


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} us"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=21, help="interpreter launches per start-up measurement"
    )
    parser.add_argument(
        "--calls", type=int, default=200_000, help="calls per wrapper-overhead measurement"
    )
    args = parser.parse_args()
    rows = bench_autolog_call(max(5, args.runs // 2))
    try:
        rows += bench_startup(args.runs)
    except (ImportError, subprocess.CalledProcessError) as exc:
        rows.append(("start-up with .pth", f"skipped ({exc})"))
    rows += bench_wrapper(args.calls)
    width = max(len(name) for name, _ in rows)
    print(f"{'measurement'.ljust(width)}  median")
    print(f"{'-' * width}  ------")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
