"""Every ordering of import / autolog / disable / re-enable / unpatch, each in a fresh interpreter.

In the style of ddtrace's PatchTestCase: after each step the fake framework is
either patched exactly once (and records exactly one capture per fit, unless
disabled) or structurally pristine (same names, same kinds of objects, no
wrapper anywhere, nothing recorded).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest
from fakeml_support import SOURCE

DRIVER = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
from fittrace.autologging import Integration, autolog, registry, runs, unpatch
from fittrace.autologging.patching import is_fittrace_wrapper

captured = []


class MemoryRecorder(runs.Recorder):
    """Keeps runs in memory: this suite is about patch state, not storage."""

    def client(self):
        return self

    def active_run_id(self):
        return None

    def start_run(self, tags, nested):
        return "run"

    def end_run(self, run_id, status):
        pass

    def log_batch(self, run_id, metrics=(), params=(), tags=()):
        captured.append(run_id)


def capture(call):
    call.log_params({"alpha": 1})
    yield


def install(patcher):
    patcher.patch_subclasses(patcher.module.Model, "fit", capture)
    patcher.patch(patcher.module, "train", capture)


runs.recorder = MemoryRecorder()
registry._discovered = True
registry.register(Integration(name="fakeml", module="fakeml", install=install))


def shape(namespace):
    return {k: type(v).__name__ for k, v in vars(namespace).items() if k != "__init_subclass__"}


def pristine_shapes():
    import importlib.util
    spec = importlib.util.spec_from_file_location("fakeml_pristine", sys.argv[1] + "/fakeml.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {n: shape(getattr(module, n)) for n in ("Model", "SubModel", "Pipeline")}


PRISTINE = pristine_shapes()
imported = enabled = installed = False
report = []
for step in sys.argv[2:]:
    if step == "import":
        import fakeml
        imported = True
        installed = installed or enabled
    elif step in ("autolog", "enable"):
        autolog()
        enabled = True
        installed = installed or imported
    elif step == "disable":
        autolog(disable=True)
        enabled = False
    elif step == "unpatch":
        unpatch()
        enabled = installed = False
    if not imported:
        continue
    model = fakeml.Model
    fit = vars(model)["fit"]
    if installed:
        assert is_fittrace_wrapper(fit) and not is_fittrace_wrapper(fit.__wrapped__), step
        assert is_fittrace_wrapper(fakeml.train) and not is_fittrace_wrapper(fakeml.train.__wrapped__), step
        assert is_fittrace_wrapper(vars(fakeml.Pipeline)["fit"]) and "fit" not in vars(fakeml.SubModel), step
        assert "__init_subclass__" in vars(model), step
    else:
        for name, expected in PRISTINE.items():
            assert shape(getattr(fakeml, name)) == expected, (step, name)
        assert "__init_subclass__" not in vars(model) and not is_fittrace_wrapper(fakeml.train), step
    del captured[:]
    fakeml.Model().fit([1])
    fakeml.Pipeline([fakeml.SubModel()]).fit([1])
    fakeml.train([1])
    expected = 3 if installed and enabled else 0
    assert len(captured) == expected, (step, captured, expected)
    report.append(step)
print(json.dumps(report))
'''

STEPS = ("import", "autolog", "disable", "enable", "unpatch")
ORDERINGS = [p for p in itertools.permutations(STEPS) if p.index("disable") < p.index("enable")]


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lifecycle")
    (folder / "fakeml.py").write_text(SOURCE)
    (folder / "driver.py").write_text(DRIVER)
    return folder


@pytest.mark.parametrize("steps", ORDERINGS, ids="-".join)
def test_lifecycle_ordering(driver, steps):
    steps = (*steps, "autolog", "unpatch")  # always end with a re-patch and a clean unpatch
    proc = subprocess.run(
        [sys.executable, str(driver / "driver.py"), str(driver), *steps],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    checked = json.loads(proc.stdout.strip().splitlines()[-1])
    assert checked == list(steps[steps.index("import") :])
