"""The OpenAI-compatible server: app, backends, the gateway seam, runners.

It knows nothing of the guard or the watermark: :mod:`distillscope.serving`
assembles them around it, and ``distillscope serve`` lives there.

- :func:`distillscope.server.app.create_app` — the FastAPI app over a backend, behind a gateway.
- :mod:`distillscope.server.backends.local` — a transformers model with continuous batching;
  :mod:`distillscope.server.backends.upstream` — a relay to any OpenAI-compatible URL.
- :mod:`distillscope.server.gateway` — the seam the guard plugs into (``Admission``, ``Gateway``,
  ``OpenGateway``); :mod:`distillscope.server.errors` — OpenAI-shaped ``APIError``.
- :mod:`distillscope.server.runner` — ``serve_in_thread`` (any app on a loopback port, in a
  thread) and the foreground runner with graceful shutdown. A whole server (local model or
  upstream, open or guarded) is stood up by ``distillscope.serving.serve(ServeSettings(...))``.

Nothing is imported here, so that importing a submodule stays cheap.

No module of this package may import ``guard``, ``watermark`` or ``serving`` (the guard plugs in
through the ``Gateway`` protocol), and this module must not import its submodules.
"""
