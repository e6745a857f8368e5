"""``import fittrace.auto`` turns autologging on as the environment says.

With ``FITTRACE_AUTOLOG`` unset every installed integration is enabled
(importing this module is the opt-in); otherwise the variables described in
``fittrace.autologging.env`` apply. Only import hooks are registered: no
framework is imported early. The ``fittrace_autolog.pth`` file installed with
the wheel imports this module when ``FITTRACE_AUTOLOG`` is set.
"""

from fittrace.autologging.env import enable_from_environment

enable_from_environment(default="all")
