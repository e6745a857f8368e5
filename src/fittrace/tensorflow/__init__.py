"""TensorFlow / Keras 3: ``autolog()`` and the Keras model flavor (save_model, log_model, load_model).

``fittrace.keras`` is the same module under the name Keras users look for.
This module only declares the integration (loaded by ``fittrace.autolog()``):
what gets recorded is in ``_autolog``, imported when Keras is; the flavor
loads on first use.
"""

from __future__ import annotations

from fittrace._lazy import lazy_attributes
from fittrace.autologging.checkpoints import CheckpointSettings
from fittrace.autologging.integration import Integration

_FLAVOR_NAMES = "FLAVOR_NAME load_checkpoint load_model log_model save_model _load_pyfunc".split()
__getattr__ = lazy_attributes(__name__, dict.fromkeys(_FLAVOR_NAMES, "._flavor"))


class TensorflowSettings(CheckpointSettings):
    """Keras options besides the common ones.

    - ``log_every_epoch``: log each epoch's logs (MLflow's option).
    - ``log_every_n_steps``: also log the running batch logs every n training steps.
    - ``save_model_kwargs`` (MLflow's ``keras_model_kwargs`` too): passed to ``keras.Model.save``
      when the model is logged.
    - ``checkpoint`` and MLflow's ``checkpoint_*`` options: save checkpoints as artifacts while
      training (``fittrace.autologging.checkpoints``; ``load_checkpoint`` reads them back).
    - ``log_tensorboard``: upload TensorBoard's event files as ``tensorboard_logs`` (a
      TensorBoard callback of the fit's, or one fittrace adds when TensorBoard is installed).
    - ``save_exported_model``, ``saved_model_kwargs``: accepted for MLflow's callers; fittrace
      always logs the ``.keras`` file, so a value other than the default warns once.
    """

    log_every_epoch: bool = True
    log_every_n_steps: int | None = None
    save_model_kwargs: dict | None = None
    keras_model_kwargs: dict | None = None
    log_tensorboard: bool = True
    save_exported_model: bool = False
    saved_model_kwargs: dict | None = None

    def validate(self) -> None:
        super().validate()
        for name in ("save_exported_model", "saved_model_kwargs"):
            if getattr(self, name) and not self.silent:
                from fittrace.autologging import safety

                safety.warn(
                    f"fittrace.tensorflow.autolog({name}=...) is accepted but not honoured: "
                    "the model is logged as a .keras file"
                )
        if self.keras_model_kwargs:
            merged = {**self.keras_model_kwargs, **(self.save_model_kwargs or {})}
            self._normalize("save_model_kwargs", merged)


INTEGRATION = Integration(
    name="tensorflow",
    module="keras",
    distribution="keras",
    supported_versions=">=3.0",
    settings_class=TensorflowSettings,
    install="fittrace.tensorflow._autolog:install",
    aliases=("keras",),
)


def autolog(**kwargs: object) -> None:
    """Record every Keras ``fit`` (and ``evaluate`` after it).

    Options: the common ones (``log_models``, ``log_input_examples``,
    ``log_model_signatures``, ``log_datasets``, ``disable``, ``exclusive``,
    ``disable_for_unsupported_versions``, ``silent``, ``registered_model_name``,
    ``extra_tags``) and those of ``TensorflowSettings``.
    What is recorded: ``fittrace.tensorflow._autolog``.
    """
    INTEGRATION.autolog(**kwargs)


__all__ = [
    "TensorflowSettings",
    "autolog",
    *(n for n in _FLAVOR_NAMES if not n.startswith("_")),
]
