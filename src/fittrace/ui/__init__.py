"""The web UI and tracking API over any fittrace store: ``fittrace ui`` and ``fittrace server``.

Not imported by ``import fittrace``; the server (``app``, with ``http.server``) loads only when
one of those commands runs or ``make_server`` is first used.
"""

from fittrace._lazy import lazy_attributes

__getattr__ = lazy_attributes(__name__, dict.fromkeys(("UIServer", "make_server", "serve"), ".app"))

__all__ = ["UIServer", "make_server", "serve"]
