"""Keep API keys and bearer tokens out of every log line.

:func:`install_redaction` wraps the logging record factory once per process, so
every record of every logger (uvicorn's, FastAPI's, ours, handlers added later)
has keys masked as ``ds-***`` before any handler sees it, in the message, its
arguments and the exception text. It must stay cheap: one regex per record.

This module must not drop, emit or reorder a log record: it only rewrites the text of records as
they are made.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

_SECRET = re.compile(
    r"(ds-)[A-Za-z0-9_\-]{8,}"
    r"|((?:bearer|Bearer|BEARER)\s+)[^\s'\",]+"
    r"|([?&](?:api[_-]?key|key|token|access_token|password|secret)=)[^&\s'\"]+",
    re.IGNORECASE,
)
_installed = False
_lock = threading.Lock()


def redact(text: str) -> str:
    """``text`` with distillscope keys and bearer tokens masked."""
    return _SECRET.sub(lambda m: (m.group(1) or m.group(2) or m.group(3)) + "***", text)


def _clean(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a record whose args do not format: leave it to the handler's error path
        return
    if redact(message) != message:
        # Mask inside the message and each argument, keeping their shape: formatters such as
        # uvicorn's access log read ``record.args`` as a tuple.
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        try:
            still = redact(record.getMessage()) != record.getMessage()
        except Exception:
            still = True
        if still:  # a key inside a non-string argument: fall back to the masked text
            record.msg, record.args = redact(message), ()
    if record.exc_info and record.exc_info[1] is not None:
        # Formatters use exc_text when it is set, so the traceback is printed masked.
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))


def install_redaction() -> None:
    """Mask keys in all log records of this process from now on (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _clean(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
