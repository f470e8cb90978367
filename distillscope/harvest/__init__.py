"""harvest: query a teacher at scale without losing or double-paying anything.

Python API: ``distillscope.harvest.harvest(HarvestSettings(...)) -> HarvestResult``;
the strategy is a query strategy object or a :class:`StrategySettings` (chosen by
``strategies.factory.make_strategy``). Modules, one idea each:
``canonical`` (request keys), ``cache`` (SQLite answers), ``budget`` (hard caps),
``limiter`` (RPM/TPM pacing from headers), ``client`` (one HTTP attempt),
``dispatch`` (cache -> budget -> limiter -> retries), ``teacher`` (URL or local),
``prices``, ``preflight`` (dry run), ``progress``, ``output`` (rows, files,
manifest), ``run`` (rounds), ``strategies/`` (what to ask).

The face other components use is the names below (each loads on first use, so
``distillscope --help`` stays fast): the run and its settings, and the request
machinery that on-policy scoring reuses (cache, budget, pacing, dispatch, prices,
request keys), and answer verification (``keep_verified``: `train --verify`).
Other components must not import harvest's modules directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from distillscope.lazyface import lazy_getattr

if TYPE_CHECKING:
    from distillscope.harvest.budget import Budget, Caps, Usage
    from distillscope.harvest.cache import AnswerCache
    from distillscope.harvest.canonical import canonical_json, normalise_base_url, request_key
    from distillscope.harvest.client import TeacherClient
    from distillscope.harvest.dispatch import Dispatcher, PlannedRequest, Result
    from distillscope.harvest.limiter import RateLimiter
    from distillscope.harvest.prices import Price, PriceTable
    from distillscope.harvest.run import HarvestResult, harvest
    from distillscope.harvest.settings import HarvestSettings
    from distillscope.harvest.strategies.factory import StrategySettings, make_strategy
    from distillscope.harvest.verify import VerifyError, keep_verified

_FACE = {
    "harvest": "distillscope.harvest.run",
    "HarvestResult": "distillscope.harvest.run",
    "HarvestSettings": "distillscope.harvest.settings",
    "StrategySettings": "distillscope.harvest.strategies.factory",
    "make_strategy": "distillscope.harvest.strategies.factory",
    "Budget": "distillscope.harvest.budget",
    "Caps": "distillscope.harvest.budget",
    "Usage": "distillscope.harvest.budget",
    "AnswerCache": "distillscope.harvest.cache",
    "canonical_json": "distillscope.harvest.canonical",
    "normalise_base_url": "distillscope.harvest.canonical",
    "request_key": "distillscope.harvest.canonical",
    "TeacherClient": "distillscope.harvest.client",
    "Dispatcher": "distillscope.harvest.dispatch",
    "PlannedRequest": "distillscope.harvest.dispatch",
    "Result": "distillscope.harvest.dispatch",
    "RateLimiter": "distillscope.harvest.limiter",
    "Price": "distillscope.harvest.prices",
    "PriceTable": "distillscope.harvest.prices",
    "VerifyError": "distillscope.harvest.verify",
    "keep_verified": "distillscope.harvest.verify",
}
__all__ = [
    "AnswerCache",
    "Budget",
    "Caps",
    "Dispatcher",
    "HarvestResult",
    "HarvestSettings",
    "PlannedRequest",
    "Price",
    "PriceTable",
    "RateLimiter",
    "Result",
    "StrategySettings",
    "TeacherClient",
    "Usage",
    "VerifyError",
    "canonical_json",
    "harvest",
    "keep_verified",
    "make_strategy",
    "normalise_base_url",
    "request_key",
]
__getattr__ = lazy_getattr(__name__, _FACE)
