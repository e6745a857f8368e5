"""Hot-path patches that the autolog machinery switches off and reverts with the integration's others.

The machinery's ``Patcher.patch`` runs the full capture protocol (a ``Call``, run choice, a
generator) through a wrapt wrapper on every call: right for ``Trainer.fit``, too heavy for a
loss function, ``Tensor.backward`` or a ``DataLoader`` iterator called thousands of times per
epoch (wrapt's per-call binding plus the ``enabled()`` call alone cost ~0.4 us). ``wrap``
installs a plain function instead, made by ``factory(original, switch)``: it reads the
integration's switch as an attribute (``switch.on``) and is recorded like every other patch,
so ``autolog(disable=True)`` and ``unpatch()`` treat it the same. ``functools.wraps`` in the
factory keeps names, so module functions still pickle by reference.

It uses the Patcher's record list and switch directly; a public ``Patcher`` method for such
wrappers would replace this module (requested in the pytorch integration's report).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fittrace.autologging import Patcher

Factory = Callable[[Callable[..., Any], Any], Callable[..., Any]]
_MARK = "__fittrace_integration__"


def wrap(patcher: Patcher, owner: Any, attribute: str, factory: Factory) -> None:
    """Replace ``owner.attribute`` by ``factory(original, switch)``; once per integration."""
    from fittrace.autologging.patching import PatchRecord, lookup

    name = patcher.integration.name
    original, defined_here = lookup(owner, attribute)
    if getattr(original, _MARK, None) == name:
        return
    wrapper = factory(original, patcher._switch)
    setattr(wrapper, _MARK, name)
    setattr(owner, attribute, wrapper)
    patcher._records.append(PatchRecord(owner, attribute, original, defined_here, wrapper, name))
