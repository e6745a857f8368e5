"""A read-only web UI over any fittrace store: ``fittrace ui`` and ``fittrace server``.

Not imported by ``import fittrace``; the CLI loads it when one of those commands runs.
"""

from fittrace.ui.app import UIServer, make_server, serve

__all__ = ["UIServer", "make_server", "serve"]
