"""One exception root for everything distillscope raises on purpose.

``DistillscopeError`` is the root: a caller (or the CLI) catches it once and knows
the failure is a known one with a message meant for a person, not a bug.
``ConfigError`` (bad settings, a bad configuration file, a missing capability) and
``InputError`` (a malformed log, prompt file, dataset or bundle) are also
``ValueError``; operational failures (a store, a teacher, a browser) subclass the
root together with ``RuntimeError`` where they are defined.

This module holds only the classes; it must not import any component.
"""

from __future__ import annotations


class DistillscopeError(Exception):
    """A known failure with a message meant for a person."""


class ConfigError(DistillscopeError, ValueError):
    """Settings, a configuration file or a requested capability are not usable."""


class InputError(DistillscopeError, ValueError):
    """Input data (a log, prompt file, dataset, bundle, report) is malformed."""


__all__ = ["ConfigError", "DistillscopeError", "InputError"]
