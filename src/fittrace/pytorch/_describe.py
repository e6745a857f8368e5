"""What fittrace records about optimizers, learning rates, models and the process rank.

Shared by the Lightning and plain-loop captures so both name things the same way:

- params ``optimizer_name`` and ``optimizer.<key>`` for the first optimizer's hyperparameters
  (``optimizer.pg<i>.<key>`` per param group when it has several), ``optimizer<j>_name`` /
  ``optimizer<j>.<key>`` for the j-th further optimizer. ``lr`` is the configured value
  (``initial_lr`` once a scheduler has taken over the group);
- metrics ``lr`` (first group of the first optimizer), ``lr_pg<i>`` for further groups and
  ``optimizer<j>_lr[_pg<i>]`` for further optimizers;
- params ``model_class``, ``model_params_total``, ``model_params_trainable`` and the
  ``model_summary.txt`` text.

torch is never imported here: everything works on the objects handed in.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_SKIPPED_GROUP_KEYS = frozenset({"params", "param_names", "initial_lr"})
RANK_ENV_VARS = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def _prefix(index: int) -> str:
    return "optimizer" if index == 0 else f"optimizer{index}"


def _value(value: Any) -> Any:
    """A param value as users read it: tensors become numbers, everything else stays for str()."""
    if hasattr(value, "numel") and hasattr(value, "item") and value.numel() == 1:
        return value.item()
    return value


def optimizer_params(optimizer: Any, index: int = 0) -> dict[str, Any]:
    """Class name and every hyperparameter of every param group of the ``index``-th optimizer."""
    prefix = _prefix(index)
    params: dict[str, Any] = {f"{prefix}_name": type(optimizer).__name__}
    groups = optimizer.param_groups
    for group_index, group in enumerate(groups):
        head = f"{prefix}." if len(groups) == 1 else f"{prefix}.pg{group_index}."
        for key, value in group.items():
            if key in _SKIPPED_GROUP_KEYS:
                continue
            if key == "lr" and "initial_lr" in group:
                value = group["initial_lr"]
            params[head + key] = _value(value)
    return params


def lr_metric_names(optimizers: Sequence[Any]) -> list[tuple[str, Any, int]]:
    """(metric name, optimizer, group index) for every param group's learning rate."""
    names = []
    for index, optimizer in enumerate(optimizers):
        head = "" if index == 0 else f"{_prefix(index)}_"
        for group_index in range(len(optimizer.param_groups)):
            suffix = "lr" if group_index == 0 else f"lr_pg{group_index}"
            names.append((head + suffix, optimizer, group_index))
    return names


def lr_metrics(optimizers: Sequence[Any]) -> dict[str, float]:
    """The current learning rate of each param group of each optimizer."""
    return {
        name: float(_value(optimizer.param_groups[group]["lr"]))
        for name, optimizer, group in lr_metric_names(optimizers)
    }


def _numel(parameter: Any) -> int:
    try:
        return int(parameter.numel())
    except (RuntimeError, ValueError):  # lazy modules' uninitialized parameters
        return 0


def parameter_counts(parameters: Iterable[Any]) -> tuple[int, int]:
    """(total, trainable) element counts, each shared tensor counted once."""
    seen: set[int] = set()
    total = trainable = 0
    for parameter in parameters:
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        count = _numel(parameter)
        total += count
        if parameter.requires_grad:
            trainable += count
    return total, trainable


def model_params(model: Any) -> dict[str, Any]:
    """``model_class`` and parameter counts of an ``nn.Module``."""
    total, trainable = parameter_counts(model.parameters())
    return {
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "model_params_total": total,
        "model_params_trainable": trainable,
    }


def model_summary(model: Any) -> str:
    """The module tree (``repr``) with a parameter count per top-level child and in total."""
    total, trainable = parameter_counts(model.parameters())
    lines = [repr(model), "", f"{'child':<32} {'type':<28} {'params':>14}", "-" * 76]
    for name, child in model.named_children():
        count, _ = parameter_counts(child.parameters())
        lines.append(f"{name:<32} {type(child).__name__:<28} {count:>14,}")
    lines += [
        "-" * 76,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
    ]
    return "\n".join(lines) + "\n"


def env_rank(environ: Mapping[str, str] | None = None) -> int:
    """The global rank the launcher announced (torchrun, SLURM, LSF), 0 when none did."""
    environ = os.environ if environ is None else environ
    for name in RANK_ENV_VARS:
        value = environ.get(name)
        if value is not None and value.strip().lstrip("-").isdigit():
            return int(value)
    return 0


def global_rank() -> int:
    """This process's rank: torch.distributed's when initialized, else the launcher's environment."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return int(dist.get_rank())
    return env_rank()


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``)."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
