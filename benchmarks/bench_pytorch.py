"""PyTorch autologging overhead: plain loops and Lightning, beside MLflow where it is installed.

Each variant runs in its own fresh interpreter (patches are process-wide), with one torch
thread; variants are interleaved and repeated. Reported per variant: median wall time and CPU
time of the process (``time.process_time``: fittrace's background writer included, less
disturbed when other work shares the machine), and the median over repeats of the ratio to the
bare run made just before it. For the plain loop, one more process alternates epochs with
autologging on and fully unpatched, which isolates the per-step overhead from machine drift:

- plain loop: a small MLP, 20 epochs over 10,000 x 20 with batch 64 and a validation pass per
  epoch; bare vs ``fittrace.pytorch.autolog()`` (target: <= 1.05x). Timed from the first step
  to the end of ``fittrace.end_run()`` (which logs the final model). fittrace's own modules
  are imported when torch is (``autolog()`` installs then), before the timer, like
  ``import mlflow`` would be;
- Lightning: the same model and data in ``Trainer.fit``; bare vs ``fittrace.pytorch.autolog()``
  (target: <= 1.05x) vs ``mlflow.pytorch.autolog()`` when mlflow is importable.

``--device cuda`` (a GPU session) runs the plain loop on the GPU, data already on the device,
and also counts host-device synchronisations with ``torch.cuda.set_sync_debug_mode("warn")``:
fittrace must add a few per epoch (reading the epoch means), none per step.

``--instructions`` also counts the instructions the plain loop executes under valgrind
(callgrind), with and without fittrace, for 0, 1 and 3 epochs: per-epoch and one-off overhead
that no other process on the machine can disturb, projected to the benchmark's epochs.

Run: ``python benchmarks/bench_pytorch.py [--repeats N] [--epochs N] [--only plain|lightning]
[--device cpu|cuda] [--instructions]``. Prints the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, sys, time, warnings
variant, kind, epochs, device = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
import torch
torch.manual_seed(0)
torch.set_num_threads(1)
X = torch.randn(10_000, 20); y = (X[:, :5].sum(1, keepdim=True) > 0).float()
Xv = torch.randn(2_000, 20); yv = (Xv[:, :5].sum(1, keepdim=True) > 0).float()
X, y, Xv, yv = (t.to(device) for t in (X, y, Xv, yv))
from torch.utils.data import DataLoader, TensorDataset
train = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True)
val = DataLoader(TensorDataset(Xv, yv), batch_size=256)
def mlp():
    layers = [torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
              torch.nn.Linear(64, 1)]
    return torch.nn.Sequential(*layers).to(device)
def one_epoch(model, opt, loss_fn):
    # a textbook plain-loop epoch: train over every batch, then a validation pass
    model.train()
    for xb, yb in train:
        opt.zero_grad(); loss = loss_fn(model(xb), yb); loss.backward(); opt.step()
    model.eval()
    with torch.no_grad():
        for xb, yb in val:
            loss_fn(model(xb), yb)
if variant == "fittrace":
    import fittrace, fittrace.pytorch
    fittrace.pytorch.autolog()
elif variant == "mlflow":
    import mlflow, mlflow.pytorch, logging
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    mlflow.pytorch.autolog()
syncs = 0
if variant == "paired":  # one process, epochs alternating between autologged and fully unpatched
    import fittrace.pytorch
    from fittrace.autologging import unpatch
    model = mlp(); opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    spent = {True: 0.0, False: 0.0}
    for pair in range(epochs):
        for on in ((True, False) if pair % 2 else (False, True)):
            fittrace.pytorch.autolog() if on else unpatch()
            cpu = time.process_time()
            one_epoch(model, opt, loss_fn)
            spent[on] += time.process_time() - cpu
    print(json.dumps({"on": spent[True], "off": spent[False], "steps": epochs * len(train)}))
    sys.exit(0)
if kind == "plain":
    model = mlp(); opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    counting = device == "cuda"
    if counting:
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("warn")
    start, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for epoch in range(epochs):
            one_epoch(model, opt, loss_fn)
        if counting:
            torch.cuda.set_sync_debug_mode(0)
            torch.cuda.synchronize()
    if variant == "fittrace":
        fittrace.end_run()  # closes the autologged run and logs the final model
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    syncs = sum("synchroniz" in str(w.message) for w in caught)
else:
    import lightning.pytorch as pl
    class Net(pl.LightningModule):
        def __init__(self):
            super().__init__(); self.net = mlp(); self.loss_fn = torch.nn.BCEWithLogitsLoss()
        def forward(self, x):
            return self.net(x)
        def training_step(self, batch, i):
            x, y = batch; loss = self.loss_fn(self(x), y); self.log("train_loss", loss, on_epoch=True)
            return loss
        def validation_step(self, batch, i):
            x, y = batch; self.log("val_loss", self.loss_fn(self(x), y))
        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         accelerator="gpu" if device == "cuda" else "cpu")
    start, cpu = time.perf_counter(), time.process_time()
    trainer.fit(Net(), train, val)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"wall": elapsed, "cpu": cpu, "syncs": syncs}))
"""


def _run(variant: str, kind: str, epochs: int, device: str, workdir: str) -> dict[str, float]:
    env = dict(os.environ)
    env["FITTRACE_TRACKING_URI"] = f"sqlite:///{workdir}/fittrace.db"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir}/mlflow.db"
    env.setdefault("PYTHONWARNINGS", "ignore")
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, variant, kind, str(epochs), device],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{kind}/{variant} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _instructions(variant: str, epochs: int, workdir: str) -> int:
    """Instructions executed by one plain-loop child under valgrind (deterministic, load-independent)."""
    env = {**os.environ, "FITTRACE_TRACKING_URI": f"sqlite:///{workdir}/vg-{variant}-{epochs}.db"}
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={workdir}/callgrind.out"]
        + [sys.executable, "-c", _CHILD, variant, "plain", str(epochs), "cpu"],
        cwd=workdir,
        env={**env, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{out.stderr[-2000:]}")
    return int(match.group(1).replace(",", ""))


def _report_instructions(epochs: int, workdir: str) -> None:
    """Per-epoch and one-off instruction overhead (runs of 0, 1 and 3 epochs cancel setup costs)."""
    counts = {(v, e): _instructions(v, e, workdir) for v in ("bare", "fittrace") for e in (0, 1, 3)}
    per_epoch = {v: (counts[v, 3] - counts[v, 1]) / 2 for v in ("bare", "fittrace")}
    one_off = (counts["fittrace", 1] - counts["bare", 1]) - (
        counts["fittrace", 0] - counts["bare", 0]
    )
    one_off -= per_epoch["fittrace"] - per_epoch["bare"]
    projected = (epochs * per_epoch["fittrace"] + one_off) / (epochs * per_epoch["bare"])
    print(
        f"  instructions (valgrind): per epoch {per_epoch['fittrace'] / per_epoch['bare']:.4f} x bare, "
        f"one-off in the loop {one_off / 1e6:.0f} M (first step, end_run with the model); "
        f"projected {epochs} epochs: {projected:.3f} x bare (target <= 1.05)"
    )


def _mlflow_available() -> bool:
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return False
    return True


def _paired_ratio(runs: dict[str, list[dict[str, float]]], variant: str, measure: str) -> float:
    """Median over repeats of variant/bare, each pair run back to back (cancels machine drift)."""
    pairs = zip(runs[variant], runs["bare"], strict=True)
    return statistics.median(ours[measure] / bare[measure] for ours, bare in pairs)


def _report(kind: str, runs: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    print(
        f"{kind} on {args.device}: {args.epochs} epochs, 10,000 x 20, batch 64, {args.repeats} runs each"
    )
    for variant, measured in runs.items():
        wall = statistics.median(r["wall"] for r in measured)
        cpu = statistics.median(r["cpu"] for r in measured)
        print(
            f"  {variant:<9} median wall {wall:7.3f} s  cpu {cpu:7.3f} s   paired ratio to bare: "
            f"wall {_paired_ratio(runs, variant, 'wall'):.3f}  cpu {_paired_ratio(runs, variant, 'cpu'):.3f}"
        )
    wall, cpu = _paired_ratio(runs, "fittrace", "wall"), _paired_ratio(runs, "fittrace", "cpu")
    print(f"  fittrace / bare = {wall:.3f} wall, {cpu:.3f} cpu  (target <= 1.05)")
    if "mlflow" in runs:
        mlflow_wall = statistics.median(r["wall"] for r in runs["mlflow"])
        fittrace_wall = statistics.median(r["wall"] for r in runs["fittrace"])
        print(f"  fittrace / mlflow = {fittrace_wall / mlflow_wall:.3f} wall")
    if kind == "plain" and args.device == "cuda":
        bare, ours = runs["bare"][0]["syncs"], runs["fittrace"][0]["syncs"]
        print(
            f"  host-device syncs: bare {bare:.0f}, fittrace {ours:.0f} "
            f"({(ours - bare) / args.epochs:.1f} added per epoch of 157 steps)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--only", choices=("plain", "lightning"), default=None)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count instructions of the plain loop under valgrind (slow; exact on a busy machine)",
    )
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["plain", "lightning"]
    with tempfile.TemporaryDirectory(prefix="fittrace-bench-") as workdir:
        for kind in kinds:
            variants = ["bare", "fittrace"]
            if kind == "lightning" and _mlflow_available():
                variants.append("mlflow")
            runs: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
            _run("bare", kind, 1, args.device, workdir)  # warm the file cache
            for _ in range(args.repeats):
                for variant in variants:
                    runs[variant].append(_run(variant, kind, args.epochs, args.device, workdir))
            _report(kind, runs, args)
            if kind == "plain":
                paired = _run("paired", kind, args.epochs, args.device, workdir)
                per_step = (paired["on"] - paired["off"]) / paired["steps"] * 1e6
                print(
                    f"  same process, alternating epochs: autologged / unpatched cpu = "
                    f"{paired['on'] / paired['off']:.3f} ({per_step:.1f} us per step)"
                )
                if args.instructions:
                    _report_instructions(args.epochs, workdir)


if __name__ == "__main__":
    main()
