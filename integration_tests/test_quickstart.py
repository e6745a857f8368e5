"""The README's quickstart command keeps working: it trains, records a run and reloads the model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"


def test_quickstart_records_a_run_and_says_where_it_went(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FITTRACE_", "MLFLOW_"))}
    done = subprocess.run(
        [sys.executable, str(QUICKSTART)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Tracking store : sqlite:///fitruns/fittrace.db" in done.stdout
    assert "predictions identical = True" in done.stdout
    assert (tmp_path / "fitruns" / "fittrace.db").is_file()

    listing = subprocess.run(
        [sys.executable, "-m", "fittrace.cli", "runs", "-e", "quickstart", "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    assert '"status": "FINISHED"' in listing.stdout
    assert "accuracy_score_X_test" in listing.stdout
