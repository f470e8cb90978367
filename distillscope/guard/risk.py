"""Online distillation-risk score per account: evidence against a benign ceiling, with reasons.

Each request updates its account's state in O(1); each recorded answer too. What
counts as harvesting evidence:

- **cot**: the request asks for written-out reasoning (any message role, or a
  prompt; phrases of :mod:`distillscope.textsig`, the offline detector's own) -- a
  reasoning trace is what a distiller wants most;
- **logprobs**: the request asks for log-probs *and* a generation (no budget, or a
  budget of at least ``generation_tokens``): token distributions of generated text
  are what log-prob distillation trains on. Scoring a fixed answer or a label over
  a short budget (``max_tokens`` 1 to 16, as evaluation harnesses and classifiers
  do) is not counted;
- **logit_bias**: the request carries a ``logit_bias`` over a token set the
  account has not used recently (a sweep probing the softmax; a fixed ban list is
  not counted);
- **volume**: generative answers taken out -- answers to self-contained requests
  (single-turn: no earlier assistant turn, no tool result sent back) that are text, not
  a tool call, of at least ``answer_tokens`` tokens, to a short prompt
  (at most ``short_prompt_tokens``) or at least ``answer_ratio`` times a longer
  prompt's tokens, counted with a time decay
  (``volume_half_life_s``) as each answer is recorded (:meth:`RiskTracker.answered`).
  A short question that gets a long answer is the unit of a distillation corpus;
  a retrieval app (long context in, short answer out), a batch job (a label per
  item), an agent's loop (tool calls out, tool results in: :func:`distillscope.textsig.tool_step`,
  the offline detector's definition) or an evaluation harness (one token) does not
  produce them, and a person produces far fewer in a day than a harvest. A ``tools``
  list declared in the request is not tool use (a harvester can send a dummy one for free).
- **traces**: the volume answers whose request asked for reasoning -- reasoning
  traces taken out, what a reasoning distiller harvests. A student who asks for
  reasoning in half their questions takes out a few a day; a harvest, dozens.
- **run**: the volume answers taken out since the account's last pause of
  ``run_pause_s`` (30 minutes) or more, counting only questions whose opening (the
  first words of their template, :func:`opening_key`) the account has not used in its
  last :data:`OPENINGS_KEPT` requests. A person's session ends with a pause; a script
  harvesting varied questions runs for hours without one. An application that runs
  around the clock wraps its users' input in a few fixed instructions (a retrieval
  app's "Use only the context ..."), so its answers do not add to a run.
- **clock**: the share of the volume answers (new questions only) taken in the account's
  quietest :data:`QUIET_HOURS` consecutive hours of the day (UTC hours, the window
  its own, so any time zone; as the offline detector's ``round_the_clock``), counted
  with a decay of ``half_life`` answers. A person sleeps, so few of their answers fall
  in their quietest eight hours whatever their pace; a script harvesting slowly (tens of
  questions a day, with pauses, never a day's volume or a run) spreads them around the
  clock, about a third there. Applications that run around the clock take out no volume
  answers (labels, retrieval, tool loops), so they have no share to judge.
- **template**: the volume answers (new questions only) whose opening (:func:`opening_key`)
  opened 1 to :data:`TEMPLATE_FILLS` of the account's last :data:`TEMPLATES_KEPT` volume
  answers -- templates in rotation, filled with new topics -- counted with the volume's decay
  (``volume_half_life_s``). Self-instruct generation and task enumeration fill a dozen
  templates with many topics ("Generate an analogy that explains <topic>."), so most new
  questions of theirs open as a few of their recent ones did; a person's new questions mostly
  open in new ways. One fixed template used over and over (an internal tool's "Summarise
  ticket #<n> ...", an application's instruction) opens more than :data:`TEMPLATE_FILLS` of
  the window and is not counted. A quasi-Poisson null with mean ``human_templates`` (a
  person's decayed count), as the volume signal's.

Only questions nobody asked before -- neither another account nor this one --
count as harvest evidence for **cot**, **volume** and **traces**: a distiller wants
answers to new questions, while an evaluation harness asks a public benchmark that
other harnesses ask too, and re-runs its own suite (a baseline model, the new model
on launch day, a rerun). A bounded :class:`QuestionLedger` (the ``question_memory``
most recently asked question keys, 64-bit blake2b of the prompt with its reasoning
requests taken out, see :func:`question_key`) remembers which account asked each
first; it is filled by :meth:`RiskTracker.observe`, so the gateway's warm start
fills it from the log like every other state. A question asked before still counts
as a request (it dilutes the shares), and :attr:`RequestFeatures.asked_before` tells the
policy, which by default does not delay it (it takes out no new answer). The first
account to run a benchmark nobody has asked yet is helped only if the benchmark is
registered (:meth:`RiskTracker.set_public_questions`, ``distillscope guard benchmarks
add``): a registered public question is no harvest evidence either, though its answer
is new, so the policy still delays it for an account the score already throttles.

One exception, the **pooled harvest**: campaign accounts drawing from one question
space (11-32 self-instruct accounts of a benchmark-shaped log) would otherwise hide
behind each other, each re-asking questions the others asked first. So every account
also keeps its *gross* harvest (the cot, volume, traces and run counts with every
question counted except its own re-asks and registered public questions), and the
first asker of each question stays in the ledger. A first asker whose gross harvest
scores at least ``harvester_score`` (the default policy's throttle level) is a
harvester; an account whose last :data:`POOL_KEPT` re-asks of other accounts' questions
were at least :data:`POOL_SHARE` first asked by harvesters, of at least ``pool_askers``
different accounts, is *pooled* and scored on its gross harvest. A person's or a
harness's shared questions were first asked by accounts with a small gross harvest, or
by one harness (a second harness re-running the benchmark of a first, or two accounts
of one team, never pool), so they stay exempt. The first asker's gross score is read
from its tracked state (by its 64-bit key) at the re-ask: O(1), no Python ``hash()``.

Calibration follows the offline detector: every signal is a tail probability
under a benign ceiling, never a fixed cut-off on a raw share. For the share
signals (cot, logprobs, logit_bias, clock) the null is "this account asks it (takes
its answers there) at most ``null_rates[name]`` of the time", and the evidence is
the Chernoff bound of the binomial tail,
``-log10 p <= n_eff * KL(share || ceiling) / ln 10``, so it grows with the
number of requests behind it (a single request is never a campaign) and a share
at or below the ceiling gives none. Each ceiling is the lowest value (of 0.1,
0.15, 0.2, 0.3, 0.4, 0.5) at which no benign account of the tuning logs gets more
than half the evidence of the action the signal drives from that signal alone
(reasoning: throttling; log-probs: stripping); docs/guard.md has the numbers. The
clock ceiling (7.5%) is the lowest of 0.03, 0.05, 0.075, 0.1, 0.15 at which no benign
account of the development logs gets a quarter of the throttle's evidence from it. Counts
decay with a half-life of
``half_life`` requests, so a change in behaviour changes the score. The volume
null is a quasi-Poisson with mean ``human_volume`` and dispersion
``volume_dispersion`` (a person's decayed count of such answers); the traces null
one with mean ``human_traces``, the run null one with mean ``human_run`` (a
person's session) and the template null one with mean ``human_templates``, each chosen as
the lowest mean at which no benign account of the tuning (development) logs gets a quarter of
the throttle's evidence from it. The
strongest signal (or Fisher's combination of reasoning and volume evidence),
Bonferroni-corrected for the eight, is the account's evidence ``E`` (decimal digits
of surprise); ``score = min(1, E / evidence_scale)``.
Log-prob evidence only feeds ``strip_score`` (stripping log-probs is the action
that fits it); the others feed both.

Nothing here depends on Python's salted ``hash()`` or on dict order, so a score is
identical in every process (two servers, a replay). This module keeps no prompt
text (only per-account counts, 64-bit hashes of logit-bias token sets and of recent questions) and
must not know about HTTP, keys or stores.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distillscope.textsig import (
    COT_PATTERN,
    QUIET_HOURS,
    TOOL_RESULT_ROLES,
    asks_for_reasoning,
    is_tool_call,
    normalise_prompt,
)

LN10 = math.log(10.0)
#: Characters of a prompt that make its question key (as the offline detector's verbatim prompts).
QUESTION_CHARS = 2000
_COT_RE = re.compile(COT_PATTERN)
_FOLD_RE = re.compile(r"[\W_]+")
#: What :meth:`QuestionLedger.ask` says of a question: never asked, asked by the same account, by another.
NEW, AGAIN, SHARED = "new", "again", "shared"
_ID_LETTERS = str.maketrans("0123456789-", "abcdefghijm")
#: Words of a question's template (:func:`distillscope.textsig.normalise_prompt`) that make its opening.
OPENING_WORDS = 4
#: Characters of a question read for its opening.
OPENING_CHARS = 200

#: Openings of recent questions an account's state keeps (an application's few fixed templates).
OPENINGS_KEPT = 8
#: Re-asks of other accounts' questions an account's state keeps for the pooled-harvest rule.
POOL_KEPT = 16
#: The share of those re-asks that must have been first asked by harvesters.
POOL_SHARE = 0.75
#: Openings of an account's recent volume answers kept for the template signal (a few templates' worth).
TEMPLATES_KEPT = 32
#: A volume answer is a template filled again when its opening opened 1 to this many of the last
#: :data:`TEMPLATES_KEPT`: several templates in rotation. An opening used more often is one fixed
#: template (an internal tool's "Summarise ticket #<n> ...", an application's instruction), not counted.
TEMPLATE_FILLS = 4
#: The signals, in the order reasons are tried.
FEATURES = ("cot", "logprobs", "logit_bias", "volume", "traces", "run", "clock", "template")
#: Roles whose presence means the request continues a conversation or an agent's loop (tool results).
_HISTORY_ROLES = frozenset({"assistant", *TOOL_RESULT_ROLES})

TokenDecoder = Callable[[list[int]], str]


@dataclass
class RiskSettings:
    """Calibration of the online score; the defaults are documented in docs/guard.md."""

    half_life: int = 256
    max_accounts: int = 10_000
    generation_tokens: int = 64
    null_rates: dict[str, float] = field(
        default_factory=lambda: {"cot": 0.4, "logprobs": 0.2, "logit_bias": 0.1, "clock": 0.075}
    )
    human_volume: float = 40.0
    volume_half_life_s: float = 24 * 3600.0
    volume_dispersion: float = 2.0
    human_traces: float = 6.0
    human_run: float = 8.0
    #: A person's decayed count (``volume_half_life_s``) of templated volume answers (the template signal).
    human_templates: float = 5.0
    run_pause_s: float = 1800.0
    answer_tokens: int = 128
    answer_ratio: float = 8.0
    short_prompt_tokens: int = 64
    evidence_scale: float = 20.0
    question_memory: int = 200_000
    #: The score of its gross harvest (its re-asks of other accounts' questions counted too) at
    #: which a first asker counts as a harvester for the pooled-harvest rule (see the module
    #: docstring). The tracker does not see the policy, so this equals the default policy's
    #: throttle level (``RiskActions.throttle``, 0.5). None: no pooling, every re-ask is exempt.
    harvester_score: float | None = 0.5
    #: Pooled harvest (see the module docstring): an account whose last :data:`POOL_KEPT` re-asks of
    #: other accounts' questions were at least :data:`POOL_SHARE` first asked by harvesters, of at
    #: least this many different accounts, is scored on its gross harvest (its re-asks of other
    #: accounts' questions count). 3: a second harness re-running the benchmark of a first, or two
    #: accounts of one team, never pool; 1 also pools those. None or 0: off.
    pool_askers: int | None = 3

    def __post_init__(self) -> None:
        if min(self.half_life, self.max_accounts, self.generation_tokens, self.question_memory) < 1:
            raise ValueError(
                "RiskSettings.half_life, max_accounts, generation_tokens and question_memory must be >= 1"
            )
        if self.harvester_score is not None and not 0 < self.harvester_score <= 1:
            raise ValueError("RiskSettings.harvester_score must be in (0, 1] or None")
        if self.pool_askers is not None and (
            isinstance(self.pool_askers, bool)
            or not isinstance(self.pool_askers, int)
            or self.pool_askers < 0
        ):
            raise ValueError("RiskSettings.pool_askers must be a non-negative integer or None")
        for name, value in (
            ("human_volume", self.human_volume),
            ("volume_half_life_s", self.volume_half_life_s),
            ("volume_dispersion", self.volume_dispersion),
            ("human_traces", self.human_traces),
            ("human_run", self.human_run),
            ("human_templates", self.human_templates),
            ("run_pause_s", self.run_pause_s),
            ("answer_tokens", self.answer_tokens),
            ("answer_ratio", self.answer_ratio),
            ("short_prompt_tokens", self.short_prompt_tokens),
            ("evidence_scale", self.evidence_scale),
        ):
            if not value > 0:
                raise ValueError(f"RiskSettings.{name} must be positive")
        unknown = set(self.null_rates) - {"cot", "logprobs", "logit_bias", "clock"}
        if unknown:
            raise ValueError(f"RiskSettings.null_rates: unknown signal(s) {sorted(unknown)}")
        for name, rate in self.null_rates.items():
            if not 0 < rate < 1:
                raise ValueError(f"RiskSettings.null_rates[{name!r}] must be in (0, 1)")


# -- what one request says ---------------------------------------------------------------


@dataclass
class RequestFeatures:
    """What one request contributes, extracted from its body."""

    text: str
    logprobs: bool = False
    top_logprobs: int = 0
    logit_bias: bool = False
    cot: bool = False
    max_tokens: int | None = None
    history: bool = False
    bias_key: str | None = None
    question: int | None = None  # the question's key (see :func:`question_key`); None: no text
    opening: int | None = None  # the key of the question's template opening (see :func:`opening_key`)
    varied: bool = False  # set by :meth:`RiskTracker.observe`: an opening the account has not used lately
    shared: bool = False  # set by :meth:`RiskTracker.observe`: another account asked it before
    repeated: bool = False  # set by :meth:`RiskTracker.observe`: this account asked it before
    public: bool = False  # set by :meth:`RiskTracker.observe`: a registered public benchmark question
    mine: bool = False  # set by :meth:`RiskTracker.observe`: this account asked it first (others may since)

    @property
    def asked_before(self) -> bool:
        """Whether the question was asked before, by this account or another: its answer was served."""
        return self.shared or self.repeated

    @property
    def known(self) -> bool:
        """Whether the question is no harvest evidence: asked before, or in a registered public benchmark.

        A pooled account's re-asks of other accounts' questions count in its gross harvest.
        """
        return self.shared or self.repeated or self.public

    @property
    def own_or_public(self) -> bool:
        """Whether the question is no harvest evidence even pooled: the account's own, or public."""
        return self.repeated or self.mine or self.public


def request_features(body: dict[str, Any], decode: TokenDecoder | None = None) -> RequestFeatures:
    """The risk-relevant facts of a chat or completion request body (never raises on bad input).

    Every message role is read (system, user, assistant, tool; string content or a
    list of content parts), and completions prompts as a string, a list of strings,
    token ids or lists of token ids. Token ids are turned into text by ``decode``
    when one is given (the served model's tokenizer), so that the same prompt scores
    the same whichever way it is sent; without it they are read as words of letters.
    """
    if not isinstance(body, dict):
        body = {}
    text, history, last = _request_text(body, decode)
    top = body.get("top_logprobs")
    logprobs = body.get("logprobs")
    top_n = top if _is_int(top) and top > 0 else 0
    if _is_int(logprobs):  # /v1/completions takes logprobs as an int (alternatives per token)
        top_n = max(top_n, logprobs)
        asked = logprobs >= 0
    else:
        asked = bool(logprobs) or top_n > 0
    budget = body.get("max_completion_tokens", body.get("max_tokens"))
    bias = body.get("logit_bias")
    bias_key = None
    if isinstance(bias, dict) and bias:
        keys = ",".join(sorted(str(k) for k in bias))
        bias_key = _text_hash(keys)
    cot = asks_for_reasoning(text)
    return RequestFeatures(
        text=text,
        logprobs=asked,
        top_logprobs=min(top_n, 100),
        logit_bias=bias_key is not None,
        cot=cot,
        max_tokens=min(budget, 1 << 31) if _is_int(budget) else None,
        history=history,
        bias_key=bias_key,
        question=question_key(text, cot),
        opening=opening_key(last),
    )


def request_question(body: dict[str, Any], decode: TokenDecoder | None = None) -> int | None:
    """The question key :func:`request_features` gives ``body`` (its ``question``), and nothing else.

    For readers that only match questions (the offline detector's public-benchmark
    filter): the same text and the same key, without the other features' cost.
    """
    text, _, _ = _request_text(body if isinstance(body, dict) else {}, decode)
    return question_key(text, asks_for_reasoning(text))


def opening_key(question: str) -> int | None:
    """A process-independent 64-bit key of how a question opens: the first words of its template.

    The template is :func:`distillscope.textsig.normalise_prompt`'s (names, numbers and
    quotes as slots, lower case, letters only), so "Use only the context to answer ...
    Section 4 on leases" and "... Clause 12 on pets" open alike: an application wraps
    its users' input in one fixed instruction, a harvest asks varied questions.
    None for a question without words.
    """
    words = normalise_prompt(question[:OPENING_CHARS]).split()[:OPENING_WORDS]
    if not words:
        return None
    return int.from_bytes(hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=8).digest(), "big")


def question_key(text: str, reasoning: bool | None = None) -> int | None:
    """A process-independent 64-bit key of the question a prompt asks (None for an empty prompt).

    The prompt's first :data:`QUESTION_CHARS` characters, lower-cased, with the
    reasoning requests of :data:`distillscope.textsig.COT_PATTERN` taken out and
    every run of non-word characters folded to one space: "Q: 2+2? Let's think step
    by step." and "q: 2+2?" are one question. This is a *verbatim* key, as the
    offline detector's shared prompts are, not the template of
    :func:`distillscope.textsig.normalise_prompt` (which turns names and numbers
    into slots, so every question of one template would be one key).

    ``reasoning`` (whether the text asks for reasoning, when already known) skips the
    search for reasoning phrases in a text that has none.
    """
    low = text[:QUESTION_CHARS].lower()
    if reasoning is None or reasoning:
        low = _COT_RE.sub(" ", low)
    folded = " ".join(_FOLD_RE.sub(" ", low).split())
    if not folded:
        return None
    return int.from_bytes(hashlib.blake2b(folded.encode("utf-8", "replace"), digest_size=8).digest(), "big")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _storable(text: str) -> str:
    """``text`` without lone surrogates (they cannot be encoded) and NULs."""
    if "\x00" in text:
        text = text.replace("\x00", " ")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _request_text(body: dict[str, Any], decode: TokenDecoder | None) -> tuple[str, bool, str]:
    """All prompt text of a request, whether it carries conversation history, and its question.

    The question is the last user message (a chat request's system prompt is the
    same on every request of a script), or the whole prompt of a completions request.
    Both texts are storable (:func:`_storable`): the one place request text is cleaned.
    """
    text, history, last = _raw_request_text(body, decode)
    return _storable(text), history, _storable(last)


def _raw_request_text(body: dict[str, Any], decode: TokenDecoder | None) -> tuple[str, bool, str]:
    prompt = body.get("prompt")
    if prompt is not None:
        text = _prompt_text(prompt, decode)
        return text, False, text
    messages = body.get("messages")
    if not isinstance(messages, list):
        return "", False, ""
    parts: list[str] = []
    history = False
    last = ""
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role in _HISTORY_ROLES:
            history = True
        content = _content_text(message.get("content"))
        parts.extend(content)
        if role == "user":
            last = "\n".join(content)
    return "\n".join(parts), history, last


def _content_text(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    out = []
    for part in content:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict):
            text = part.get("text", part.get("content"))
            if isinstance(text, str):
                out.append(text)
    return out


def _prompt_text(prompt: Any, decode: TokenDecoder | None) -> str:
    if isinstance(prompt, str):
        return prompt
    if not isinstance(prompt, list) or not prompt:
        return ""
    if all(_is_int(t) for t in prompt):
        return _ids_text(prompt, decode)
    pieces = []
    for item in prompt:
        if isinstance(item, str):
            pieces.append(item)
        elif isinstance(item, list) and item and all(_is_int(t) for t in item):
            pieces.append(_ids_text(item, decode))
    return "\n".join(pieces)


def _ids_text(ids: list[int], decode: TokenDecoder | None) -> str:
    if decode is not None:
        try:
            return decode(ids)
        except Exception:  # a tokenizer that cannot read these ids: fall back to the ids
            pass
    # Letters, not digits: the normalised prompt turns numbers into one slot.
    return " ".join("t" + str(i).translate(_ID_LETTERS) for i in ids)


def body_of(exchange: Any) -> dict[str, Any]:
    """The request body a logged exchange came from, as far as scoring needs it.

    The server logs a token-id prompt as its JSON text; it is read back as ids, so
    a replay scores exactly what the gateway scored.
    """
    body: dict[str, Any] = dict(exchange.params or {})
    if exchange.messages is not None:
        body["messages"] = exchange.messages
    prompt = exchange.prompt
    if isinstance(prompt, str) and prompt.startswith("[") and prompt.endswith("]"):
        import json

        try:
            ids = json.loads(prompt)
        except ValueError:
            ids = None
        if isinstance(ids, list) and ids and all(_is_int(t) or isinstance(t, list) for t in ids):
            prompt = ids
    if prompt is not None:
        body["prompt"] = prompt
    return body


def _text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()


# -- the score -----------------------------------------------------------------------------


@dataclass
class RiskScore:
    """An account's score (0..1), its evidence per signal and the reasons, strongest first.

    ``score`` drives throttling and blocking; ``strip_score`` (>= ``score``) also
    counts log-prob harvesting and drives stripping log-probs.
    """

    account: str
    score: float
    requests: int
    features: dict[str, float]
    reasons: list[str]
    strip_score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "score": round(self.score, 4),
            "strip_score": round(self.strip_score, 4),
            "requests": self.requests,
            "features": {k: round(v, 4) for k, v in self.features.items()},
            "reasons": self.reasons,
        }


def binomial_evidence(successes: float, trials: float, ceiling: float) -> float:
    """Decimal digits of evidence that a share ``successes/trials`` exceeds ``ceiling``.

    The Chernoff bound of the binomial upper tail, ``P(X >= k) <= exp(-n KL(k/n || p))``
    -- valid for any ``n`` and cheap enough for every request; 0 at or below the ceiling.
    """
    if trials <= 0:
        return 0.0
    share = min(max(successes / trials, 0.0), 1.0)
    if share <= ceiling:
        return 0.0
    kl = share * math.log(share / ceiling)
    if share < 1.0:
        kl += (1 - share) * math.log((1 - share) / (1 - ceiling))
    return trials * kl / LN10


def fisher_evidence(*digits: float) -> float:
    """Decimal digits of Fisher's combined p-value of independent tests given in decimal digits."""
    x = sum(digits) * LN10  # -sum(ln p) = X/2, X ~ chi-square with 2k degrees of freedom
    if x <= 0:
        return 0.0
    # survival of chi-square(2k) at 2x: exp(-x) * sum_{i<k} x^i / i!
    tail = sum(x**i / math.factorial(i) for i in range(len(digits)))
    return max(x - math.log(tail), 0.0) / LN10


def poisson_evidence(count: float, mean: float, dispersion: float) -> float:
    """Decimal digits of evidence that ``count`` exceeds a quasi-Poisson(``mean``, ``dispersion``)."""
    if count <= mean:
        return 0.0
    return (count * math.log(count / mean) - count + mean) / (dispersion * LN10)


class _AccountState:
    """Streaming state of one account: decayed counts, recent prompts, recent logit-bias sets."""

    __slots__ = (
        "n",
        "last_ts",
        "counts",
        "volume",
        "traces",
        "volume_ts",
        "biases",
        "run",
        "openings",
        "gross",
        "reasks",
        "pooled",
        "hours",
        "weight",
        "quiet",
        "templated",
        "templates",
    )

    def __init__(self) -> None:
        self.n = 0
        self.last_ts: float | None = None
        # requests, cot, logprobs, logit_bias, cot of the gross harvest (decayed)
        self.counts = [0.0, 0.0, 0.0, 0.0, 0.0]
        self.volume = 0.0
        self.traces = 0.0  # the volume answers to requests that asked for reasoning
        self.volume_ts: float | None = None
        self.biases: deque[str] = deque(maxlen=32)
        self.run = 0.0  # varied volume answers since the account's last pause of run_pause_s or more
        self.openings: deque[int] = deque(maxlen=OPENINGS_KEPT)
        # the gross harvest: volume, traces and run counting re-asks of other accounts' questions too
        self.gross = [0.0, 0.0, 0.0]
        # the first asker's key of each recent re-ask of another account's question, 0 if not a harvester
        self.reasks: deque[int] = deque(maxlen=POOL_KEPT)
        self.pooled = False  # scored on its gross harvest (see RiskSettings.pool_askers)
        # requests and volume answers (new questions) by hour of the day (UTC), decayed per request
        # as ``counts``, created at the first volume answer; kept multiplied by ``weight`` (the
        # current request's weight: it grows instead of every entry decaying)
        self.hours: tuple[list[float], list[float]] | None = None
        self.weight = 1.0
        self.quiet = 0  # the first hour of the account's quietest QUIET_HOURS hours of requests
        # volume answers to new questions that fill a template in rotation (the template signal), decayed
        # as volume; its own questions only, also when pooled (a re-ask shows another account's templates)
        self.templated = 0.0
        # the openings of the account's last TEMPLATES_KEPT volume answers (re-asks of others' questions too)
        self.templates: deque[int] = deque(maxlen=TEMPLATES_KEPT)


class QuestionLedger:
    """Which recent questions were asked by which account: O(1) per request, bounded, deterministic.

    Maps a question key (:func:`question_key`) to the 64-bit key of the first
    account that asked it and whether a second account has asked it too (packed in
    one int: ``key << 1 | several``); the least recently asked questions are
    forgotten beyond ``capacity``. Keeps no text. Not locked: :class:`RiskTracker`
    calls it under its own lock.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._owners: OrderedDict[int, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._owners)

    def origin(self, question: int) -> int | None:
        """The key of the account that asked ``question`` first (others may have since); None if none did."""
        owner = self._owners.get(question)
        return None if owner is None else owner >> 1

    def ask(self, question: int, account: int) -> str:
        """Record that ``account`` asks ``question``: ``NEW``, ``AGAIN`` (its own question) or ``SHARED``.

        ``SHARED``: another account asked it before (or two accounts did).
        """
        owners = self._owners
        owner = owners.get(question)
        if owner is None:
            owners[question] = account << 1
            if len(owners) > self.capacity:
                owners.popitem(last=False)
            return NEW
        owners.move_to_end(question)
        if owner == account << 1:
            return AGAIN
        owners[question] = owner | 1
        return SHARED


#: The weight at which an account's hour counts are scaled back (long before a float overflows).
_RESCALE = 1e100


def _quietest(hours: list[float]) -> int:
    """The first hour of the :data:`QUIET_HOURS` consecutive hours (around midnight) with the least."""
    window = quiet = sum(hours[:QUIET_HOURS])
    start = 0
    for i in range(1, 24):  # the window of hours i .. i + QUIET_HOURS - 1
        window += hours[(i + QUIET_HOURS - 1) % 24] - hours[i - 1]
        if window < quiet:
            quiet, start = window, i
    return start


def _account_key(account: str) -> int:
    return int.from_bytes(hashlib.blake2b(account.encode("utf-8", "replace"), digest_size=8).digest(), "big")


class RiskTracker:
    """Per-account streaming risk state (thread-safe; LRU-bounded to ``max_accounts``)."""

    def __init__(self, config: RiskSettings | None = None) -> None:
        self.config = config or RiskSettings()
        self._accounts: OrderedDict[str, _AccountState] = OrderedDict()
        self._by_key: dict[int, _AccountState] = {}  # the same states, by :func:`_account_key`
        self._questions = QuestionLedger(self.config.question_memory)
        self._public: frozenset[int] = frozenset()
        self._lock = threading.Lock()
        self._decay = 0.5 ** (1.0 / self.config.half_life)

    def set_public_questions(self, keys: frozenset[int]) -> None:
        """Replace the registered public benchmark questions (keys of :func:`question_key`).

        A request whose question is one of them is no harvest evidence (as a question
        asked before), but it is not "asked before" for the policy: its answer was not
        served yet, so an account the score already throttles is still delayed on it.
        """
        with self._lock:
            self._public = frozenset(keys)

    @property
    def public_questions(self) -> int:
        """How many public benchmark questions are registered."""
        return len(self._public)

    def observe(self, account: str, features: RequestFeatures, ts: float) -> RiskScore:
        """Update ``account`` with one request at time ``ts``; returns the new score.

        Sets ``features.shared`` when another account asked the same question before
        (the harvest signals then do not count it, unless the account is pooled: see the
        module docstring).
        """
        with self._lock:
            key = _account_key(account)
            reask: int | None = None  # re-ask of another account's question: first asker, 0 if no harvester
            if features.question is not None:
                ledger = self._questions
                origin = ledger.origin(features.question)
                asked = ledger.ask(features.question, key)
                features.shared, features.repeated = asked == SHARED, asked == AGAIN
                features.public = features.question in self._public
                features.mine = origin == key
                if self.config.pool_askers and origin is not None and not features.own_or_public:
                    reask = origin if self._harvester(origin, ts) else 0
            state = self._state(account, key)
            if reask is not None:
                state.reasks.append(reask)
                state.pooled = self._pools(state)
            bias_new = features.bias_key is not None and features.bias_key not in state.biases
            if features.bias_key is not None:
                state.biases.append(features.bias_key)
            if features.opening is not None:
                features.varied = features.opening not in state.openings
                state.openings.append(features.opening)
            generates = features.max_tokens is None or features.max_tokens >= self.config.generation_tokens
            flags = (
                features.cot and not features.known,
                features.logprobs and generates,
                bias_new,
                features.cot and not features.own_or_public,
            )
            d = self._decay
            counts = state.counts
            counts[0] = counts[0] * d + 1.0
            for i, flag in enumerate(flags, start=1):
                counts[i] = counts[i] * d + (1.0 if flag else 0.0)
            self._decay_volume(state, ts)
            if state.hours is not None:
                self._clock(state, ts)
            if state.last_ts is not None and ts - state.last_ts >= self.config.run_pause_s:
                state.run = state.gross[2] = 0.0  # a pause ends the run
            state.n += 1
            state.last_ts = ts if state.last_ts is None else max(state.last_ts, ts)
            return self._score(account, state, ts)

    def score(self, account: str, now: float) -> RiskScore:
        with self._lock:
            state = self._accounts.get(account)
            if state is None:
                return RiskScore(account, 0.0, 0, dict.fromkeys(FEATURES, 0.0), [])
            return self._score(account, state, now)

    def accounts(self) -> list[str]:
        with self._lock:
            return list(self._accounts)

    # -- updates -------------------------------------------------------------------------

    def _state(self, account: str, key: int) -> _AccountState:
        state = self._accounts.get(account)
        if state is None:
            state = _AccountState()
            self._accounts[account] = state
            self._by_key[key] = state
            while len(self._accounts) > self.config.max_accounts:
                gone, _ = self._accounts.popitem(last=False)
                self._by_key.pop(_account_key(gone), None)
        else:
            self._accounts.move_to_end(account)
        return state

    def answered(
        self,
        account: str,
        features: RequestFeatures,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        ts: float,
        finish_reason: str | None = None,
    ) -> None:
        """Count a finished answer of ``account`` (its usage) toward the volume signal.

        Only a generative text answer to a self-contained request counts (see the module
        docstring): a tool call (``finish_reason``, :func:`distillscope.textsig.is_tool_call`)
        is not; an answer without usage, or of an account no longer tracked, is ignored.
        """
        if (
            completion_tokens is None
            or features.history
            or features.own_or_public
            or (features.known and not self.config.pool_askers)
            or is_tool_call(finish_reason)
        ):
            return
        cfg = self.config
        prompt = prompt_tokens if prompt_tokens is not None else len(features.text) // 4
        if completion_tokens < cfg.answer_tokens:
            return
        if prompt > cfg.short_prompt_tokens and completion_tokens < cfg.answer_ratio * prompt:
            return
        with self._lock:
            state = self._accounts.get(account)
            if state is None:
                return
            self._decay_volume(state, ts)
            gross = state.gross  # volume, traces, run of the gross harvest
            gross[0] += 1.0
            gross[1] += features.cot
            gross[2] += features.varied
            opening = features.opening
            fills = opening is not None and 0 < state.templates.count(opening) <= TEMPLATE_FILLS
            if opening is not None:
                state.templates.append(opening)
            if not features.known:
                state.volume += 1.0
                state.traces += features.cot
                state.run += features.varied
                state.templated += fills
                hour = int(ts // 3600.0) % 24
                if state.hours is None:
                    state.hours, state.weight = ([0.0] * 24, [0.0] * 24), 1.0
                    state.hours[0][hour] = 1.0
                    state.quiet = _quietest(state.hours[0])
                state.hours[1][hour] += state.weight

    def _clock(self, state: _AccountState, ts: float) -> None:
        """Count a request at ``ts`` in its hour of the day; keep the account's quietest window.

        O(1) unless the request falls in that window: every entry decays alike, so only a window
        holding this hour can have stopped being the quietest.
        """
        requests, answers = state.hours  # type: ignore[misc]
        state.weight /= self._decay
        if state.weight > _RESCALE:
            for i in range(24):
                requests[i] /= state.weight
                answers[i] /= state.weight
            state.weight = 1.0
        hour = int(ts // 3600.0) % 24
        requests[hour] += state.weight
        if (hour - state.quiet) % 24 < QUIET_HOURS:
            state.quiet = _quietest(requests)

    def _night_answers(self, state: _AccountState) -> float:
        """The account's (decayed) volume answers in its quietest :data:`QUIET_HOURS` hours of requests."""
        if state.hours is None:
            return 0.0
        answers, start = state.hours[1], state.quiet
        return sum(answers[(start + i) % 24] for i in range(QUIET_HOURS)) / state.weight

    def _harvester(self, key: int, now: float) -> bool:
        """Whether the tracked account ``key``'s gross harvest scores at least ``harvester_score``."""
        level = self.config.harvester_score
        state = self._by_key.get(key)
        if level is None or state is None:
            return False
        return self._scores(self._evidence(state, now, True)[0])[0] >= level

    def _pools(self, state: _AccountState) -> bool:
        """Whether ``state``'s recent re-asks make it part of a pooled harvest (``pool_askers``)."""
        askers = self.config.pool_askers
        judged = [key for key in state.reasks if key]
        return bool(askers) and len(judged) >= POOL_SHARE * POOL_KEPT and len(set(judged)) >= askers

    def _volume_decay(self, state: _AccountState, now: float) -> float:
        """The factor by which the volume counts have decayed between their last update and ``now``."""
        if state.volume_ts is None:
            return 1.0
        elapsed = max(now - state.volume_ts, 0.0)
        return 0.5 ** (elapsed / self.config.volume_half_life_s)

    def _decay_volume(self, state: _AccountState, ts: float) -> None:
        factor = self._volume_decay(state, ts)
        state.volume *= factor
        state.traces *= factor
        state.gross[0] *= factor
        state.gross[1] *= factor
        state.templated *= factor
        state.volume_ts = ts if state.volume_ts is None else max(state.volume_ts, ts)

    # -- scoring -------------------------------------------------------------------------

    def _evidence(
        self, state: _AccountState, now: float, gross: bool
    ) -> tuple[dict[str, float], tuple[float, float, float]]:
        """Each signal's evidence at ``now`` (decimal digits), and the volume, traces and run counts.

        ``gross``: of the gross harvest (re-asks of other accounts' questions counted too).
        """
        cfg = self.config
        n_eff, cot, lp, bias, cot_gross = state.counts
        null = cfg.null_rates
        decay = self._volume_decay(state, now)
        volume, traces, run = state.gross if gross else (state.volume, state.traces, state.run)
        volume, traces = volume * decay, traces * decay
        if state.last_ts is not None and now - state.last_ts >= cfg.run_pause_s:
            run = 0.0  # paused
        evidence = {
            "cot": binomial_evidence(cot_gross if gross else cot, n_eff, null.get("cot", 0.5)),
            "logprobs": binomial_evidence(lp, n_eff, null.get("logprobs", 0.5)),
            "logit_bias": binomial_evidence(bias, n_eff, null.get("logit_bias", 0.1)),
            "volume": poisson_evidence(volume, cfg.human_volume, cfg.volume_dispersion),
            "traces": poisson_evidence(traces, cfg.human_traces, cfg.volume_dispersion),
            "run": poisson_evidence(run, cfg.human_run, cfg.volume_dispersion),
            "clock": binomial_evidence(self._night_answers(state), n_eff, null.get("clock", 0.5)),
            "template": poisson_evidence(state.templated * decay, cfg.human_templates, cfg.volume_dispersion),
        }
        return evidence, (volume, traces, run)

    def _scores(self, evidence: dict[str, float]) -> tuple[float, float]:
        """The score and strip score of the evidence of :meth:`_evidence`."""
        # Reasoning traces and generative answers are two views of one harvest: Fisher's
        # method joins them (as if independent); the best of these counts, Bonferroni-corrected.
        joint = fisher_evidence(evidence["cot"], evidence["volume"])
        tests = math.log10(len(FEATURES))
        behaviour = max(joint, *(evidence[name] for name in FEATURES if name != "logprobs"))
        behaviour -= tests
        strip = max(behaviour, evidence["logprobs"] - tests)
        scale = self.config.evidence_scale
        return min(max(behaviour, 0.0) / scale, 1.0), min(max(strip, 0.0) / scale, 1.0)

    def _score(self, account: str, state: _AccountState, now: float) -> RiskScore:
        cfg = self.config
        evidence, counts = self._evidence(state, now, state.pooled)
        score, strip_score = self._scores(evidence)
        n_eff, cot, lp, bias, cot_gross = state.counts
        if state.pooled:
            cot = cot_gross
        shares = {"cot": cot / n_eff, "logprobs": lp / n_eff, "logit_bias": bias / n_eff} if n_eff else {}
        if n_eff:
            shares["clock"] = self._night_answers(state) / n_eff
        shares["template"] = state.templated * self._volume_decay(state, now)
        reasons = [
            _reason(name, evidence[name], shares, counts, cfg)
            for name in sorted(FEATURES, key=lambda k: -evidence[k])
            if evidence[name] >= 2.0
        ]
        if state.pooled and reasons:
            judged = [key for key in state.reasks if key]
            reasons.append(
                f"pool: {len(judged)} of its last {len(state.reasks)} re-asks of other accounts' questions "
                f"were first asked by {len(set(judged))} accounts that are harvesters themselves: they count"
            )
        return RiskScore(account, score, state.n, evidence, reasons, strip_score)


def _reason(
    name: str, digits: float, shares: dict[str, float], counts: tuple[float, float, float], cfg: RiskSettings
) -> str:
    p = f"p <= 1e-{int(digits)}"
    volume, traces, run = counts
    if name == "run":
        text = (
            f"{run:.0f} long answers to short self-contained prompts without a pause of "
            f"{cfg.run_pause_s / 60:.0f} minutes (a person's session: about {cfg.human_run:.0f}; {p})"
        )
    elif name == "traces":
        text = (
            f"about {traces:.0f} long answers to short prompts that asked for reasoning in the last day "
            f"(reasoning traces; a person: about {cfg.human_traces:.0f}; {p})"
        )
    elif name == "volume":
        text = (
            f"about {volume:.0f} long answers to short self-contained prompts in the last day "
            f"(a person: about {cfg.human_volume:.0f}; {p})"
        )
    elif name == "cot":
        text = (
            f"reasoning asked for in {shares['cot']:.0%} of recent requests "
            f"(benign ceiling {cfg.null_rates['cot']:.0%}; {p})"
        )
    elif name == "logprobs":
        text = (
            f"log-probs of generated text asked in {shares['logprobs']:.0%} of recent requests "
            f"(benign ceiling {cfg.null_rates['logprobs']:.0%}; {p})"
        )
    elif name == "clock":
        text = (
            f"{shares['clock']:.0%} of its recent requests were long answers to new short prompts taken in "
            f"its quietest {QUIET_HOURS} hours of the day (a person sleeps: benign ceiling "
            f"{cfg.null_rates.get('clock', 0.5):.1%}; {p})"
        )
    elif name == "template":
        text = (
            f"about {shares['template']:.0f} long answers to new short prompts in the last day opened as "
            f"one of its last {TEMPLATES_KEPT} such prompts did (templates filled with topics; "
            f"a person: about {cfg.human_templates:.0f}; {p})"
        )
    else:
        text = f"a new logit_bias token set in {shares['logit_bias']:.0%} of recent requests (a sweep; {p})"
    return f"{name}: {text}"
