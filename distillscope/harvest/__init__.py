"""harvest: query a teacher at scale without losing or double-paying anything.

Python API: ``distillscope.harvest.run.harvest(HarvestSettings(...)) -> HarvestResult``
(settings in :mod:`distillscope.harvest.settings`). Modules, one idea each:
``canonical`` (request keys), ``cache`` (SQLite answers), ``budget`` (hard caps),
``limiter`` (RPM/TPM pacing from headers), ``client`` (one HTTP attempt),
``dispatch`` (cache -> budget -> limiter -> retries), ``teacher`` (URL or local),
``prices``, ``preflight`` (dry run), ``progress``, ``output`` (rows, files,
manifest), ``run`` (rounds), ``strategies/`` (what to ask).

Nothing heavy is imported here, so ``distillscope --help`` stays fast.
"""
