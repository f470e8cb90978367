"""One definition of each text signal: chain-of-thought phrases, prompt normalisation, MinHash, tool use.

The online guard (``guard/risk.py``), the offline detector (``detect/``, whose
SQL is built from the constants here by ``detect/sqlparts.py``) and the
indicator sharing (``share/sketch.py``) all read prompts through this module, so
they agree about what "asking for reasoning" is, what a prompt's template is and
which prompts are near-duplicates.

- **Chain-of-thought elicitation**: :data:`COT_PATTERN`, a regular expression in
  the subset that Python ``re``, RE2 (DuckDB) and ``java.util.regex`` (Spark)
  read the same way, matched against lower-cased text (English plus Spanish,
  Portuguese, French, German, Italian, Russian, Chinese, Japanese, Korean).
- **Prompt normalisation**: quoted spans, numbers and capitalised words become
  the slots ``<q>``, ``<n>``, ``<p>``; the text is lower-cased, every run of
  non-letters becomes one space, and the result is cut to
  :data:`TEMPLATE_CHARS`. :func:`normalise_prompt` is the Python form; the SQL
  form applies the same four patterns in the same order.
- **MinHash**: word :data:`SHINGLE`-grams of the normalised prompt, each hashed
  with a process-independent 32-bit hash (pandas' SipHash with its fixed key;
  never Python's salted ``hash()``), then datasketch's affine permutations
  (:data:`NUM_PERM` values, seed :data:`SEED`, the "legacy" scheme). Signatures are therefore equal
  across processes, machines and engines.
- **Tool use**: an exchange is a *step of a tool loop* (:func:`tool_step`) when its
  answer is a tool call (``finish_reason`` in :data:`TOOL_CALL_FINISH`) or its
  conversation returns a tool's result to the model (a message whose role is in
  :data:`TOOL_RESULT_ROLES`). Declaring a ``tools`` list is not tool use: it costs
  nothing, and a harvester can send a dummy one and still get text answers. The
  detector's SQL (``detect/sqlparts.py``) is built from the same constants.
- **Quiet hours** (not text, but read by both sides the same way): :data:`QUIET_HOURS`, the
  length of an account's quietest window of the day, where a person sleeps and a script does
  not (the detector's ``round_the_clock``, the guard's ``clock``).

This module holds constants and pure functions only; it must not import a
component (guard, detect, share) nor keep raw text anywhere.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import regex

# -- chain-of-thought phrases -----------------------------------------------------------------

#: Phrases (regular-expression alternatives, lower case) that ask a model to write out its reasoning.
COT_PHRASES: tuple[str, ...] = (
    # English
    "step[ -]by[ -]step",
    "step[ -]wise",
    "let'?s think",
    "think (carefully|it through|things through|through|aloud|out loud|step)",
    "show (me )?(your|all|the|every) ?(full |complete |entire |detailed )?"
    "(work|working|reasoning|steps|thinking|thought process|derivation)",
    "explain (your|the) (reasoning|thinking|steps)",
    "your (full |complete |detailed |entire )?(reasoning|thought process)",
    "reason(ing)? (through|carefully|out loud|aloud|step)",
    "chain[ -]of[ -]thought",
    "walk me through",
    "full reasoning",
    "detailed reasoning",
    "reasoning trace",
    "thought process",
    "<think>",
    "before (giving|answering|you answer)",
    # Spanish / Portuguese / Italian
    "paso a paso",
    "passo a passo",
    "passo dopo passo",
    "(muestra|explica|mostra|explique|mostre|spiega) (tu|seu|teu|il tuo|o seu) "
    "(razonamiento|raciocínio|ragionamento)",
    "razona(ndo)? (paso|con cuidado)",
    "ragiona(ndo)? (passo|con attenzione)",
    # French
    "étape par étape",
    "(montre|explique|détaille)[sz]? (ton|votre) raisonnement",
    "raisonne[sz]? (étape|pas à pas)",
    "pas à pas",
    # German
    "schritt für schritt",
    "schrittweise",
    "(zeige|erkläre|erklär) (deinen|ihren|den) (lösungsweg|gedankengang|rechenweg|denkprozess)",
    "denke? (schrittweise|laut)",
    # Russian
    "шаг за шагом",
    "пошагово",
    "(покажи|объясни) (свои |своё |свое |ход )?(рассуждени|решени|ход мысл)",
    # Chinese / Japanese / Korean
    "一步一步",
    "逐步",
    "推理过程",
    "思考过程",
    "解题过程",
    "ステップバイステップ",
    "段階的に",
    "順を追って",
    "단계별로",
    "차근차근",
    "풀이 과정",
)
COT_PATTERN: str = "|".join(COT_PHRASES)
#: Text beyond this many characters is not searched for reasoning phrases (same in SQL).
COT_SCAN_CHARS = 4000
_COT = re.compile(COT_PATTERN)


def asks_for_reasoning(text: str | None) -> bool:
    """Whether the text asks the model to write out its reasoning (any supported language)."""
    return bool(text) and _COT.search(_lower(text[:COT_SCAN_CHARS])) is not None  # type: ignore[index]


# -- tool use ---------------------------------------------------------------------------------

#: Message roles that return a tool's result to the model (OpenAI's "tool", its older "function").
TOOL_RESULT_ROLES: tuple[str, ...] = ("tool", "function")
#: Finish reasons of an answer that is a tool call (OpenAI's two, Anthropic's "tool_use").
TOOL_CALL_FINISH: tuple[str, ...] = ("tool_calls", "function_call", "tool_use")


def returns_tool_result(messages: object) -> bool:
    """Whether a chat request's messages return a tool's result to the model (a loop's next step)."""
    if not isinstance(messages, list):
        return False
    return any(isinstance(m, dict) and m.get("role") in TOOL_RESULT_ROLES for m in messages)


def is_tool_call(finish_reason: object) -> bool:
    """Whether an answer with this finish reason is a tool call (the model asks the client to run a tool)."""
    return finish_reason in TOOL_CALL_FINISH


def tool_step(messages: object, finish_reason: object) -> bool:
    """Whether an exchange is a step of a tool loop: its answer is a tool call, or it returns a tool's result.

    A tool call is evidence a harvester cannot add without spoiling its own data (it is
    not the text answer it came for); a returned result can be pasted into any
    conversation, so a reader that explains traffic by tool use also asks that the model
    itself calls tools (the offline detector does). A ``tools`` list in the request
    alone is not a step (see the module docstring).
    """
    return is_tool_call(finish_reason) or returns_tool_result(messages)


#: Consecutive hours of the day in an account's quietest window (UTC hours, the window found per account,
#: so any time zone): a person sleeps through about a third of the day.
QUIET_HOURS = 8


# -- prompt normalisation ---------------------------------------------------------------------

#: Patterns applied in this order; they stay in the subset RE2 and java.util.regex read alike.
QUOTED = '"[^"]{0,400}"|\u201c[^\u201d]{0,400}\u201d'
NUMBER = "[0-9]+([.,:/][0-9]+)*"
PROPER = "[A-Z][A-Za-z]+"
#: A run of non-letters, to become one space. Written so that a run that already is one space does not
#: match: the same output as ``[^\\p{L}<>]+``, with a fifth of the replacements (half the SQL's CPU).
NON_LETTER = "[^\\p{L}<>]{2,}|[^\\p{L}<> ]"
SLOT_QUOTED, SLOT_NUMBER, SLOT_PROPER = " <q> ", " <n> ", " <p> "
#: Characters of the prompt that are normalised, and of the template kept.
PROMPT_CHARS = 2000
TEMPLATE_CHARS = 256

_QUOTED_RE = re.compile(QUOTED)
_NUMBER_RE = re.compile(NUMBER)
_PROPER_RE = re.compile(PROPER)
_NON_LETTER_RE = regex.compile(NON_LETTER)


def _lower(text: str) -> str:
    """Lower case with the simple (one code point) mapping, as DuckDB does: 'İ' becomes 'i'."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower()[:1] for c in text)


def normalise_prompt(text: str | None) -> str:
    """A prompt's template: slots for quoted spans, numbers and names; lower case; letters only.

    The Python form of the SQL both engines run (``detect/sqlparts.py``); a test
    checks they agree on a varied corpus.
    """
    out = _QUOTED_RE.sub(SLOT_QUOTED, (text or "")[:PROMPT_CHARS])
    out = _NUMBER_RE.sub(SLOT_NUMBER, out)
    out = _PROPER_RE.sub(SLOT_PROPER, out)
    out = _NON_LETTER_RE.sub(" ", _lower(out))
    return out[:TEMPLATE_CHARS].strip(" ")


# -- MinHash ------------------------------------------------------------------------------------

NUM_PERM = 64
SEED = 1
SHINGLE = 3
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)


def shingles(normalised: str, size: int = SHINGLE) -> list[str]:
    """Word ``size``-grams of an already normalised text (the whole text when shorter; [] when empty)."""
    words = normalised.split()
    if not words:
        return []
    if len(words) <= size:
        return [" ".join(words)]
    return [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]


def prompt_shingles(text: str | None) -> list[str]:
    """Shingles of a raw prompt: :func:`normalise_prompt` then :func:`shingles`."""
    return shingles(normalise_prompt(text))


def hash32(tokens: list[str]) -> np.ndarray:
    """Process-independent 32-bit hashes of strings (pandas' SipHash with its fixed key), as uint64."""
    import pandas as pd

    if not tokens:
        return np.zeros(0, dtype=np.uint64)
    # categorize=False: the same hashes, without factorising the array first (18x faster on a prompt's
    # shingles, which are mostly distinct; this runs on the gateway's request path).
    return pd.util.hash_array(np.array(tokens, dtype=object), categorize=False) & _MAX32


@lru_cache(maxsize=4)
def permutations(num_perm: int = NUM_PERM, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """The permutation coefficients (a, b) of datasketch's "legacy" scheme (every version before 2.0).

    Drawn here with numpy's ``RandomState(seed)`` exactly as datasketch drew them, so
    signatures do not change with the installed datasketch version.
    """
    gen = np.random.RandomState(seed)
    pairs = [
        (gen.randint(1, _MERSENNE, dtype=np.uint64), gen.randint(0, _MERSENNE, dtype=np.uint64))
        for _ in range(num_perm)
    ]
    a, b = np.array(pairs, dtype=np.uint64).T
    return a, b


def minhash_signatures(token_sets: list[list[str]], num_perm: int = NUM_PERM) -> np.ndarray:
    """MinHash signatures (items x num_perm, uint64), vectorised over all tokens at once.

    The universal hash ``(a * h + b) mod (2^61 - 1)`` truncated to 32 bits, over
    :func:`hash32` of each token; an empty set hashes the empty string. Equal to
    ``datasketch.MinHash(num_perm, seed=1, scheme="legacy", hashfunc=...)`` fed
    the same 32-bit token hashes (rebuild one with :func:`as_datasketch`).
    """
    perm_a, perm_b = permutations(num_perm, SEED)
    out = np.empty((len(token_sets), num_perm), dtype=np.uint64)
    if not token_sets:
        return out
    lengths = np.array([max(1, len(t)) for t in token_sets])
    hashed = hash32([tok for toks in token_sets for tok in (toks or [""])])
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    chunk = 200_000
    item = 0
    # whole items per chunk, so that reduceat segments never straddle chunks
    while item < len(token_sets):
        stop = max(item + 1, int(np.searchsorted(np.cumsum(lengths[item:]), chunk, side="right")) + item)
        lo, hi = starts[item], starts[stop - 1] + lengths[stop - 1]
        with np.errstate(over="ignore"):
            phv = ((hashed[lo:hi, None] * perm_a[None, :] + perm_b[None, :]) % _MERSENNE) & _MAX32
        out[item:stop] = np.minimum.reduceat(phv, starts[item:stop] - lo, axis=0)
        item = stop
    return out


def minhash_of_hashes(hashes: np.ndarray, num_perm: int = NUM_PERM) -> np.ndarray:
    """The MinHash signature of a set given by its 32-bit element hashes (e.g. keyed hashes)."""
    perm_a, perm_b = permutations(num_perm, SEED)
    if len(hashes) == 0:
        hashes = hash32([""])
    with np.errstate(over="ignore"):
        phv = ((np.asarray(hashes, dtype=np.uint64)[:, None] * perm_a + perm_b) % _MERSENNE) & _MAX32
    return phv.min(axis=0)


def prompt_signature(text: str | None, num_perm: int = NUM_PERM) -> np.ndarray:
    """The MinHash signature (num_perm uint64 values) of one raw prompt."""
    return minhash_signatures([prompt_shingles(text)], num_perm)[0]


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Share of equal MinHash values: an unbiased estimate of the shingle sets' Jaccard similarity."""
    return float(np.mean(a == b))


def as_datasketch(signature: np.ndarray) -> object:
    """A ``datasketch.MinHash`` holding a signature of this module (for its LSH indexes and Jaccard)."""
    import inspect

    from datasketch import MinHash

    extra = {"scheme": "legacy"} if "scheme" in inspect.signature(MinHash.__init__).parameters else {}
    values = np.asarray(signature, dtype=np.uint64)
    return MinHash(num_perm=len(values), seed=SEED, hashvalues=values, **extra)
