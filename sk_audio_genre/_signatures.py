"""How the genre classifiers present themselves: their signatures and their repr.

scikeras' ``KerasClassifier`` takes most parameters through ``**kwargs``; these helpers make
each classifier's ``__init__`` signature list the shared parameters it accepts (so help()
and IDEs show them) and its ``repr`` show only the parameters that differ from the
defaults, as scikit-learn's estimators do.
"""

from __future__ import annotations

import inspect
from typing import Any


def share_init_signature(cls: type, base: type) -> None:
    """Give ``cls.__init__`` a signature with ``base.__init__``'s keyword-only parameters
    that it does not declare itself, then ``**kwargs``."""
    if "__init__" not in vars(cls):
        return
    own = inspect.signature(cls.__init__).parameters.values()
    shared = inspect.signature(base.__init__).parameters.values()
    keyword_only = [p for p in own if p.kind is p.KEYWORD_ONLY]
    names = {p.name for p in keyword_only}
    keyword_only += [p for p in shared if p.kind is p.KEYWORD_ONLY and p.name not in names]
    self_param, *_ = own
    var_keyword = inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)
    cls.__init__.__signature__ = inspect.Signature([self_param, *keyword_only, var_keyword])


def changed_params_repr(estimator: Any) -> str:
    """``ClassName(param=value, ...)`` with the parameters that differ from the defaults."""
    defaults = type(estimator)().get_params(deep=False)
    changed = {
        name: value
        for name, value in sorted(estimator.get_params(deep=False).items())
        if name not in defaults or repr(value) != repr(defaults[name])
    }
    arguments = ", ".join(f"{name}={value!r}" for name, value in changed.items())
    return f"{type(estimator).__name__}({arguments})"
