"""``estimator.html``: scikit-learn's own HTML view of the fitted estimator.

Where the fit logged its model into artifacts on this machine, the view is drawn after the fit
returns, on the background thread of ``fittrace.tracking.pending``, from that logged model (a
snapshot the user's later ``set_params``/``fit`` cannot change): rendering it is the costliest
part of a first fit. Remote artifacts would be downloaded again for it: drawn during the fit.

Since scikit-learn 1.7 that view re-parses the estimator class's whole
docstring for every parameter and fitted attribute it shows, which is most of
its cost. ``memoize_docstrings`` caches that lookup — a pure function of
(class, section, name) — for as long as scikit-learn autologging is installed;
the HTML is the same, only cheaper.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

from fittrace.tracking import pending

FILE_NAME = "estimator.html"

_DOCSTRING_USERS = ("sklearn.utils._repr_html.params", "sklearn.utils._repr_html.fitted_attributes")


def estimator_html(estimator: Any) -> bytes:
    """A standalone HTML page with ``sklearn.utils.estimator_html_repr(estimator)``."""
    from sklearn.utils import estimator_html_repr

    body = estimator_html_repr(estimator)
    head = '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="UTF-8"/></head>\n<body>\n'
    return f"{head}{body}\n</body>\n</html>\n".encode()


def snapshot_is_local(repository: Any) -> bool:
    """Whether the logged model lies in ``repository`` on this machine, readable in place."""
    from fittrace.store.artifacts import LocalArtifactRepository

    return isinstance(repository, LocalArtifactRepository)


def write_later(repository: Any, run_id: str, logged: Any) -> None:
    """Write ``estimator.html`` of the model ``logged`` (its ``ModelInfo``) once the fit has
    returned."""
    pending.defer(
        run_id, FILE_NAME, functools.partial(_write_from_logged_model, repository, logged)
    )


def _write_from_logged_model(repository: Any, logged: Any) -> None:
    from fittrace.sklearn._flavor import load_logged

    model_dir = os.path.join(repository.root, *logged.artifact_path.split("/"))
    repository.write_bytes(FILE_NAME, estimator_html(load_logged(model_dir, logged.flavors)))


def memoize_docstrings(patcher: Any) -> None:
    """Replace ``get_docstring`` in the HTML view's modules by a cached version (reverted on unpatch)."""
    import inspect

    caches: dict[Any, Any] = {}
    for module_name in _DOCSTRING_USERS:
        module = sys.modules.get(module_name)
        original = getattr(module, "get_docstring", None)
        if original is None or hasattr(original, "cache_info"):
            continue
        if list(inspect.signature(original).parameters) != [
            "estimator_class",
            "section_name",
            "item",
        ]:
            continue  # not the function this cache was written for
        patcher.replace(
            module,
            "get_docstring",
            lambda original, _switch: caches.setdefault(
                original, functools.lru_cache(maxsize=4096)(original)
            ),
        )
