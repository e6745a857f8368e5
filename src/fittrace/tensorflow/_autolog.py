"""Keras 3 autologging: what ``Model.fit``, ``Model.evaluate`` and ``Model.predict`` record.

Covers ``tf.keras`` in TensorFlow >= 2.16 (which is Keras 3) and standalone Keras 3 on
the TensorFlow, PyTorch or JAX backend. Nothing heavy is imported at module level.

``fit`` records
  - params: the fit arguments as bound (positional or keyword, defaults included; the
    batch size that actually runs, read from datasets and generators without consuming
    them; ``class_weight``/``sample_weight`` as presence), ``optimizer_class`` and
    ``optimizer_<config key>`` (a learning-rate schedule as its class and
    ``optimizer_learning_rate_<key>``) with MLflow's ``optimizer_name`` and
    ``opt_<config key>`` copies, ``loss``, ``metrics``, and after training
    ``total_params``/``trainable_params``/``non_trainable_params``; EarlyStopping's
    ``monitor``/``patience``/``min_delta``/``baseline``/``restore_best_weights``;
  - metrics: every epoch's logs (``loss``, ``val_loss``, ...) at step = epoch (so a fit
    with ``initial_epoch`` continues the steps), each validation's logs again as MLflow's
    ``validation_<key>`` (step = epoch), ``learning_rate`` per epoch, and with
    ``log_every_n_steps`` the running batch logs as ``batch_<key>`` at the global step (also
    under the metric's own name when ``log_every_epoch=False``, as MLflow logs them);
  - early stopping, only when it stopped training: ``stopped_epoch``; ``restored_epoch``
    when Keras restored the best weights, and then that epoch's metrics again at step
    ``last epoch + 1`` so a run's latest values describe the model that was logged;
  - with ``checkpoint=True``, checkpoints as artifacts (``autologging.checkpoints``);
  - artifacts: ``model_summary.txt`` and the model (``.keras``, signature from a few rows
    of the real input, input example when asked, ``registered_model_name``).
``evaluate`` on a model fitted under autologging logs ``eval_<key>`` into the fit's run;
``predict`` on such a model records its array input as a dataset (context ``eval``).

The injected callback goes into a copy of the caller's callbacks (list, tuple, single
callback, ``CallbackList``; positional or keyword); it pickles and deep-copies (a copy
logs into the same run). Array inputs (numpy, pandas, backend tensors such as
``tf.Tensor``) are recorded as datasets. In distributed training only the
chief (rank 0) records.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fittrace.autologging import Call, Patcher
from fittrace.tensorflow import TensorflowSettings

# Positions of ``callbacks`` among the arguments after self, in
# fit(x, y, batch_size, epochs, verbose, callbacks, ...) and
# evaluate(x, y, batch_size, verbose, sample_weight, steps, callbacks, ...).
FIT_CALLBACKS_POSITION = 5
EVALUATE_CALLBACKS_POSITION = 6
SUMMARY_FILE = "model_summary.txt"

# model -> step after its last autologged fit, where evaluate() results are logged
_final_steps: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
# model -> ids of the inputs its predict() already recorded
_predicted: weakref.WeakKeyDictionary[Any, set[int]] = weakref.WeakKeyDictionary()


@contextmanager
def _step(call: Call, what: str) -> Iterator[None]:
    """Guard one part of a capture so the other parts still record."""
    try:
        yield
    except Exception as exc:
        call.record_error(what, exc)


def _capture_fit(call: Call):  # noqa: ANN202 - a capture generator
    from fittrace.tensorflow import _data, _distributed, _params

    if not _distributed.is_chief():
        return
    settings: TensorflowSettings = call.settings  # type: ignore[assignment]
    model = call.instance
    callbacks = call.get_arg("callbacks", FIT_CALLBACKS_POSITION)
    arguments = _params.bind_fit_arguments(_fit_function(), call.args, call.kwargs) or {}
    x = arguments.get("x", call.get_arg("x", 0))
    peeked: _data.Peeked | None = None
    early_stopping = None

    callback = None
    with _step(call, "fit (adding the callback)"):
        from fittrace.tensorflow._callback import make_callback

        callback = make_callback(call, settings)
        call.replace_arg("callbacks", FIT_CALLBACKS_POSITION, _with_callback(callbacks, callback))
    if _data.is_generator(x):
        with _step(call, "fit (peeking the generator)"):
            peeked = _data.Peeked(x)  # Keras gets a generator replaying the peeked batch first
            call.replace_arg("x", 0, peeked.iterator)
    with _step(call, "fit (params)"):
        batch_size = _data.batch_size(
            x, arguments.get("batch_size"), arguments.get("steps_per_epoch"), peeked
        )
        params = _params.fit_params(arguments, batch_size) if arguments else {}
        params.update(_params.optimizer_params(getattr(model, "optimizer", None)))
        params.update(_params.compile_params(model))
        early_stopping = _params.find_early_stopping(_callback_list(callbacks))
        if early_stopping is not None:
            params.update(_params.early_stopping_params(early_stopping))
        call.log_params(params)
    if settings.log_datasets:
        with _step(call, "fit (datasets)"):
            _log_datasets(call, arguments)

    try:
        yield  # the original fit runs here; its exception, if any, propagates from this line
    finally:
        if settings.log_tensorboard:
            with _step(call, "fit (TensorBoard logs)"):
                _tensorboard_logs(call, callbacks, callback)

    last_epoch = getattr(callback, "last_epoch", None)
    final_step = 0 if last_epoch is None else last_epoch + 1
    with _step(call, "fit (early stopping)"):
        if early_stopping is not None and callback is not None:
            _log_early_stopping(call, early_stopping, callback.epoch_logs, last_epoch, final_step)
    with _step(call, "fit (model summary)"):
        call.log_params(_params.count_params(model))
        call.log_text(_summary(model), SUMMARY_FILE)
    with _step(call, "fit (linking the model to the run)"):
        call.remember_run(model)
        _final_steps[model] = final_step
    if settings.log_models:
        with _step(call, "fit (logging the model)"):
            _log_model(call, model, x, peeked)


def _tensorboard_logs(call: Call, callbacks: Any, callback: Any) -> None:
    from fittrace.tensorflow import _tensorboard

    log_dir = _tensorboard.users_log_dir(_callback_list(callbacks))
    if log_dir is not None:
        _tensorboard.upload_users(call, log_dir)
    elif callback is not None:
        _tensorboard.write_later(call.client, call.run_id, callback)


def _fit_function() -> Any:
    import keras

    return keras.Model.fit


def _with_callback(callbacks: Any, added: Any) -> Any:
    """A new callbacks argument: the caller's callbacks followed by ``added``."""
    import keras

    if isinstance(callbacks, keras.callbacks.CallbackList):
        combined = keras.callbacks.CallbackList(
            [*callbacks.callbacks, added], model=callbacks.model, **(callbacks.params or {})
        )
        return combined
    return [*_callback_list(callbacks), added]


def _callback_list(callbacks: Any) -> list[Any]:
    if callbacks is None:
        return []
    inner = getattr(callbacks, "callbacks", None)  # a CallbackList
    if isinstance(inner, list):
        return inner
    return list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]


def _log_early_stopping(
    call: Call,
    callback: Any,
    epoch_logs: dict[int, dict[str, float]],
    last_epoch: int | None,
    final_step: int,
) -> None:
    metrics: dict[str, float] = {}
    if getattr(callback, "stopped_epoch", 0) <= 0:
        return  # it never stopped training: nothing was restored either
    metrics["stopped_epoch"] = callback.stopped_epoch
    restored = callback.restore_best_weights and getattr(callback, "best_weights", None) is not None
    if restored:
        best = int(getattr(callback, "best_epoch", 0))
        metrics["restored_epoch"] = best
    call.log_metrics(metrics, step=final_step)
    if restored and best != last_epoch and best in epoch_logs:
        call.log_metrics(epoch_logs[best], step=final_step)


def _summary(model: Any) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    return "\n".join(lines)


def _log_model(call: Call, model: Any, x: Any, peeked: Any) -> None:
    from fittrace import models
    from fittrace.tensorflow import _data, _flavor

    settings: TensorflowSettings = call.settings  # type: ignore[assignment]
    sample = None
    if settings.log_model_signatures or settings.log_input_examples:
        with _step(call, "fit (reading an input sample)"):
            sample = _data.sample_inputs(x, peeked)
    signature = None
    if sample is not None and settings.log_model_signatures:
        with _step(call, "fit (inferring the model signature)"):
            signature = models.infer_signature(sample, _output_example(model, sample))
    _flavor.log_model(
        model,
        "model",
        signature=signature if signature is not None else False,
        input_example=sample if settings.log_input_examples else None,
        registered_model_name=settings.registered_model_name,
        run_id=call.run_id,
        save_model_kwargs=settings.save_model_kwargs,
    )


def _output_example(model: Any, sample: Any) -> Any:
    """What ``model`` outputs for ``sample``, as zeros of the output's dtypes and shapes, from
    Keras's symbolic shape inference: a first ``predict`` traces a function (50-70 ms of a
    script's first fit). ``predict`` itself where a shape or dtype is not known without it."""
    import keras
    import numpy as np

    from fittrace.tensorflow import _flavor

    rows: list[int] = []

    def symbolic(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: symbolic(v) for k, v in x.items()}
        if isinstance(x, list):
            return [symbolic(v) for v in x]
        if not isinstance(x, np.ndarray):
            raise TypeError(f"not an array: {type(x).__name__}")
        rows.append(len(x))
        return keras.KerasTensor((None, *x.shape[1:]), dtype=str(x.dtype))

    def zeros(spec: Any) -> Any:
        if isinstance(spec, dict):
            return {k: zeros(v) for k, v in spec.items()}
        if isinstance(spec, (list, tuple)):
            return [zeros(v) for v in spec]
        return np.zeros((rows[0], *spec.shape[1:]), dtype=np.dtype(spec.dtype))

    try:
        return zeros(model.compute_output_spec(symbolic(sample)))
    except Exception:  # unknown dimensions, dtypes numpy lacks, a backend that cannot tell
        return _flavor._predict(model, sample)


def _log_datasets(call: Call, arguments: dict[str, Any]) -> None:
    from fittrace.tensorflow import _data

    inputs = []
    x, y = _data.array_data(arguments.get("x")), _data.array_data(arguments.get("y"))
    if x is not None:
        inputs.append(_data.dataset_input(x, y, "train"))
    validation = arguments.get("validation_data")
    if validation is not None:
        vx, vy, _ = _data.unpack(validation)
        vx, vy = _data.array_data(vx), _data.array_data(vy)
        if vx is not None:
            inputs.append(_data.dataset_input(vx, vy, "eval"))
    if inputs:
        call.client.log_inputs(call.run_id, inputs)


def _capture_predict(call: Call):  # noqa: ANN202 - a capture generator
    """``predict`` on a model fitted under autologging: its input as a dataset (context ``eval``).

    Each input object is described once per model (later calls with it cost an id lookup).
    """
    from fittrace.autologging import runs
    from fittrace.tensorflow import _data

    if not call.settings.log_datasets or runs.run_for(call.instance) is None:
        return  # a model fitted without autologging: the active run is not its run
    yield
    x = call.get_arg("x", 0)
    seen = _predicted.setdefault(call.instance, set())
    if id(x) in seen:
        return
    seen.add(id(x))
    data = _data.array_data(x)
    if data is not None:
        call.client.log_inputs(call.run_id, [_data.dataset_input(data, None, "eval")])


def _capture_evaluate(call: Call):  # noqa: ANN202 - a capture generator
    from fittrace.tensorflow import _distributed
    from fittrace.tensorflow._callback import EvaluationLogs, scalar_logs

    if not _distributed.is_chief():
        return
    keeper = EvaluationLogs()
    callbacks = call.get_arg("callbacks", EVALUATE_CALLBACKS_POSITION)
    call.replace_arg("callbacks", EVALUATE_CALLBACKS_POSITION, _with_callback(callbacks, keeper))
    yield
    metrics = {f"eval_{key}": value for key, value in scalar_logs(keeper.logs).items()}
    if metrics:
        call.log_metrics(metrics, step=_final_steps.get(call.instance, 0))


def install(patcher: Patcher) -> None:
    import keras

    patcher.patch(keras.Model, "fit", _capture_fit, run="managed")
    patcher.patch(keras.Model, "evaluate", _capture_evaluate, run="model")
    patcher.patch(keras.Model, "predict", _capture_predict, run="model")
