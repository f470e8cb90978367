"""The ``x-distillscope-traffic`` STIX cyber-observable: a campaign's traffic as counts only.

Registered with stix2 once, on import. It must hold numbers, never text from the traffic.
"""

from __future__ import annotations

from stix2.properties import DictionaryProperty, IntegerProperty
from stix2.v21 import CustomObservable


@CustomObservable(
    "x-distillscope-traffic",
    [
        ("requests", IntegerProperty(required=True, min=0)),
        ("accounts", IntegerProperty(min=0)),
        ("summary", DictionaryProperty()),
    ],
    id_contrib_props=["requests", "accounts", "summary"],
)
class Traffic:
    """Counts and shares describing one campaign's requests."""
