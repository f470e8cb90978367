"""Share indicators of distillation campaigns with peers as STIX 2.1, without sharing users' prompts.

- :mod:`~distillscope.share.sketch`: prompt normalisation, keyed MinHash signatures of
  prompt templates, salted hashes of infrastructure (IP, user agent, payment id, org).
- :mod:`~distillscope.share.export`: detection output + exchange log -> STIX 2.1 bundle.
- :mod:`~distillscope.share.match`: a peer's bundle + own exchange log -> matches.

This module must not import its modules, and no module of this package may write prompt text or a
raw infrastructure value into a bundle.
"""
