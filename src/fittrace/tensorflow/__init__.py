"""TensorFlow / Keras 3: ``autolog()`` and the Keras model flavor (save_model, log_model, load_model).

``fittrace.keras`` is the same module under the name Keras users look for.
This module only declares the integration (loaded by ``fittrace.autolog()``):
what gets recorded is in ``_autolog``, imported when Keras is; the flavor
loads on first use.
"""

from __future__ import annotations

from fittrace._lazy import lazy_attributes
from fittrace.autologging.integration import Integration
from fittrace.autologging.settings import AutologSettings

_FLAVOR_NAMES = "FLAVOR_NAME load_model log_model save_model _load_pyfunc".split()
__getattr__ = lazy_attributes(__name__, dict.fromkeys(_FLAVOR_NAMES, "._flavor"))


class TensorflowSettings(AutologSettings):
    """Keras options besides the common ones.

    - ``log_every_epoch``: log each epoch's logs (MLflow's option).
    - ``log_every_n_steps``: also log the running batch logs every n training steps.
    - ``save_model_kwargs``: passed to ``keras.Model.save`` when the model is logged.
    """

    log_every_epoch: bool = True
    log_every_n_steps: int | None = None
    save_model_kwargs: dict | None = None


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
    ``extra_tags``) and ``log_every_epoch``, ``log_every_n_steps``, ``save_model_kwargs``.
    What is recorded: ``fittrace.tensorflow._autolog``.
    """
    INTEGRATION.autolog(**kwargs)


__all__ = [
    "TensorflowSettings",
    "autolog",
    *(n for n in _FLAVOR_NAMES if not n.startswith("_")),
]
