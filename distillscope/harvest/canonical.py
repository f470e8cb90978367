"""Canonical requests: the content address of a teacher request.

Two requests are the same request when they go to the same teacher with the
same JSON body (model, messages and every sampling parameter). The key is the
SHA-256 of a canonical JSON encoding (sorted keys, compact separators), so key
order, whitespace or a trailing slash in the URL never make a paid answer look
new. This module must not do I/O.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: the one encoding that is hashed and stored."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def normalise_base_url(url: str) -> str:
    """Lower-case scheme and host, no trailing slash, no query or fragment."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"teacher URL {url!r} must be an http(s) URL such as https://api.openai.com/v1")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


def teacher_identity(base_url: str) -> str:
    """A normalised base URL without its userinfo: a password in the URL says nothing about which teacher
    answered, and the identity is stored in the cache and in every exchange's provenance."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))


def request_key(teacher_id: str, body: dict[str, Any]) -> str:
    """The content address of ``body`` sent to ``teacher_id`` (a normalised URL or ``local:NAME``)."""
    blob = canonical_json({"teacher": teacher_id, "body": body})
    return hashlib.sha256(blob.encode()).hexdigest()
