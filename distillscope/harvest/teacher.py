"""Where the requests go: an OpenAI-compatible URL, or the local model served in-process.

Both kinds are reached the same way, over HTTP: the local teacher is the real
``distillscope serve`` app (:func:`distillscope.serving.serve`) on a
free loopback port for the duration of the run, so there is one code path.

A teacher has a stable identity for the cache, independent of the port it
happens to listen on: the normalised base URL, or ``local:NAME`` (``local:PATH``
for a model directory). The API key comes from an environment variable, is held
in memory only, and is never logged or written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from distillscope.config import EMBEDDED_TEACHER
from distillscope.errors import ConfigError
from distillscope.harvest.canonical import normalise_base_url, teacher_identity
from distillscope.harvest.settings import HarvestSettings

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class TeacherError(ConfigError):
    """A teacher that cannot be used as configured (no key, unknown local model ...)."""


@dataclass
class Teacher:
    kind: str  # "url" or "local"
    teacher_id: str
    model: str
    base_url: str = ""
    api_key: str | None = field(default=None, repr=False)
    api: str = "openai"  # the wire format: openai (chat completions) or anthropic (Messages)

    @property
    def shown_url(self) -> str:
        """What messages, manifests and provenance name: the identity (never a URL's password)."""
        return self.teacher_id


def describe_teacher(settings: HarvestSettings) -> Teacher:
    """The teacher's identity and model name, without starting or contacting anything."""
    if settings.is_local:
        from distillscope.models import EMBEDDED_ALIASES

        if settings.model.lower() in EMBEDDED_ALIASES:
            return Teacher("local", f"local:{EMBEDDED_TEACHER}", EMBEDDED_TEACHER)
        path = Path(settings.model).expanduser()
        if not (path / "config.json").is_file():
            raise TeacherError(
                f"--model {settings.model!r} is neither the embedded teacher ({EMBEDDED_TEACHER}) "
                "nor a local Hugging Face model directory"
            )
        return Teacher("local", f"local:{path.resolve()}", path.resolve().name)
    try:
        url = normalise_base_url(settings.teacher)
    except ValueError as exc:
        raise TeacherError(str(exc)) from exc
    return Teacher("url", teacher_identity(url), settings.model, base_url=url, api=settings.resolved_api)


@contextlib.contextmanager
def open_teacher(settings: HarvestSettings) -> Iterator[Teacher]:
    """A usable teacher for the run: the local server is started here and stopped on exit."""
    teacher = describe_teacher(settings)
    if teacher.kind == "url":
        teacher.api_key = _api_key(settings, teacher.base_url)
        yield teacher
        return
    from distillscope.serving import ServeSettings, serve

    model = None if teacher.teacher_id == f"local:{EMBEDDED_TEACHER}" else settings.model
    local = ServeSettings(
        model=model, served_model_name=teacher.model, max_batch_size=settings.local_max_batch_size, port=0
    )
    with serve(local) as base_url:
        teacher.base_url = base_url
        teacher.api_key = "local"
        yield teacher


def _api_key(settings: HarvestSettings, base_url: str) -> str | None:
    key = settings.api_key()
    if key:
        return key
    host = (urlsplit(base_url).hostname or "").lower()
    if host in LOOPBACK_HOSTS:
        return None  # a local server (distillscope serve --open, vLLM ...) needs no key
    raise TeacherError(
        f"no API key: the environment variable ${settings.key_env} is not set "
        "(name another one with --api-key-env; keys are never taken on the command line)"
    )
