"""Show a URL without its secrets: userinfo (``user:password@``) and query strings removed.

Used wherever an upstream or store URL is shown (``/health``, ``repr``, error
messages, logs). This module must not import anything beyond the standard library.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@`` and the query string by ``?***``.

    >>> redact_url("http://user:pw@gpu-box:8000/v1?api_key=s3cret")
    'http://***@gpu-box:8000/v1?***'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "***" if parts.query else ""
    return urlunsplit(parts._replace(netloc=netloc, query=query, fragment=""))


def redact_in(text: str, url: str) -> str:
    """``text`` with every occurrence of ``url`` (and its form without a trailing slash) redacted."""
    shown = redact_url(url)
    for form in {url, url.rstrip("/")}:
        if form:
            text = text.replace(form, shown)
    return text
