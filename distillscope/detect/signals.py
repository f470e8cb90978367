"""Per-account signal table: the raw numbers the calibrated score is built on.

One row per account, every signal oriented so that larger is more suspicious:

- ``answer_len``: log of the mean answer length in tokens (completion tokens,
  else the max_tokens asked; unknown lengths take the log's median);
- ``cot``: share of requests asking for written-out reasoning, shrunk towards the
  log's overall rate by :data:`PRIOR_REQUESTS` pseudo-requests (three requests
  are not a rate), weighted by answer length (a reasoning trace is long);
- ``logprob_entries``: log(1 + log-prob share x (top_logprobs + 1) x answer tokens):
  how many distribution entries a request harvests (an evaluation harness asking
  for one token's log-probs harvests few);
- ``bias_ids``: log(1 + distinct token ids moved by logit_bias);
- ``amplification``: log of answer tokens per prompt token (~4 characters of
  everything but the assistant's turns): a distiller sends short prompts for long
  answers; a RAG app or an agent sends long contexts for short ones;
- ``reach``: log of (novel prompts x answer tokens x (1 + log-prob share x
  top_logprobs)): new answer text and distribution entries collected. Novel
  prompts are the distinct ones no other account asks verbatim: re-running the
  same prompts, or a public benchmark other customers run too, adds nothing new;
- ``cross_model`` (not calibrated): share of the account's distinct prompts it put to two or more
  models: an evaluation compares models on the same items, a distiller wants new prompts;
- ``log_cross_model`` (not calibrated): share of the account's distinct prompts whose question (reasoning
  requests folded out, ``sqlparts.question_sql``) the log put to two or more models, whichever accounts
  asked them: a team whose baseline run another account made, or a chain-of-thought variant of a
  benchmark other teams run plain;
- ``diversity``: 1 - mean pairwise Jaccard of character 4-gram sets of the
  sampled prompts (language-agnostic; templated traffic scores low);
- ``top_head_share``: share of the requests (the sampled prompts, where the engine did not count
  heads) that open with the account's most common instruction head (the first
  :data:`HEAD_WORDS` words of the normalised prompt): a batch job or a tool repeats one
  instruction over many inputs (near 1), an enumeration of task families sweeps many
  (1 / families), a person varies;
- ``round_the_clock``: share of the requests sent in the account's quietest eight
  consecutive hours of the day (any time zone: the window is the account's own),
  shrunk towards 0 by :data:`PRIOR_REQUESTS` pseudo-requests: people sleep (near
  0), a machine spread over the day sends about a third there;
- ``long_session``: log(1 + requests in the account's longest session, requests
  less than 30 minutes apart): a person's conversation ends after tens of
  requests, a script keeps going for hundreds;
- ``tool_share`` and ``tool_call_share`` (not calibrated): share of the requests that are steps of a
  tool loop (:func:`distillscope.textsig.tool_step`: the answer is a tool call or the request
  returns a tool's result), and share whose answer is a tool call: an agent's loop;
- ``dispersion`` (with embeddings): 1 - mean cosine similarity of the sampled
  prompts' MiniLM embeddings.

This module computes numbers; it must not read logs, calibrate or decide.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import numpy as np
import pandas as pd

from distillscope import textsig
from distillscope.detect import sqlparts
from distillscope.detect.tables import FeatureTables

PRIOR_REQUESTS = 10.0
GRAM = 4
DIVERSITY_SAMPLES = 12
DIVERSITY_CHARS = 160
HEAD_WORDS = sqlparts.HEAD_WORDS


def char_grams(text: str, size: int = GRAM) -> frozenset[str]:
    t = " ".join((text or "").lower().split())[:DIVERSITY_CHARS]
    if len(t) <= size:
        return frozenset([t]) if t else frozenset()
    return frozenset(t[i : i + size] for i in range(len(t) - size + 1))


def mean_pairwise_jaccard(texts: list[str]) -> float:
    """Mean Jaccard similarity of the texts' character 4-gram sets (NaN under three texts)."""
    sets = [s for s in (char_grams(t) for t in texts[:DIVERSITY_SAMPLES]) if s]
    if len(sets) < 3:
        return float("nan")
    sims = []
    for a, b in combinations(sets, 2):
        shared = len(a & b)  # |a | b| from the sizes: building the union set doubled the cost
        sims.append(shared / (len(a) + len(b) - shared))
    return float(np.mean(sims))


def top_head_share(texts: list[str]) -> float:
    """Share of the texts opening with their most common instruction head (NaN under three texts)."""
    heads = [" ".join(textsig.normalise_prompt(t).split()[:HEAD_WORDS]) for t in texts if t and t.strip()]
    if len(heads) < 3:
        return float("nan")
    return max(Counter(heads).values()) / len(heads)


QUIET_HOURS = textsig.QUIET_HOURS


def quiet_window_counts(hours: pd.DataFrame, accounts: list[str]) -> np.ndarray:
    """Per account, the requests in its quietest QUIET_HOURS consecutive hours of the day (circular)."""
    if hours is None or hours.empty:
        return np.zeros(len(accounts))
    table = hours.pivot_table(index="account", columns="hod", values="cnt", aggfunc="sum", fill_value=0)
    table = table.reindex(index=accounts, columns=range(24), fill_value=0)
    m = table.to_numpy(dtype=float)
    wrapped = np.concatenate([m, m[:, : QUIET_HOURS - 1]], axis=1)
    sums = np.cumsum(np.pad(wrapped, ((0, 0), (1, 0))), axis=1)
    windows = sums[:, QUIET_HOURS:] - sums[:, :-QUIET_HOURS]
    return windows[:, :24].min(axis=1)


def samples_by_account(tables: FeatureTables) -> dict[str, list[str]]:
    frame = tables["samples"]
    if frame.empty:
        return {}
    return {a: [t or "" for t in g.tolist()] for a, g in frame.groupby("account", sort=True)["sample_text"]}


def signal_table(
    acc: pd.DataFrame,
    samples: dict[str, list[str]],
    dispersion: dict[str, float] | None = None,
    hours: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The per-account signals (see the module docstring) next to the raw counts they come from."""
    n = acc["n"].to_numpy(dtype=float)
    out = pd.DataFrame({"account": acc["account"].to_numpy(), "n": n})

    def ratio(num: str, den: str) -> np.ndarray:
        a, b = acc[num].to_numpy(dtype=float), acc[den].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(b > 0, a / b, np.nan)

    comp = ratio("sum_comp_tokens", "n_comp_tokens")
    asked = ratio("sum_max_tokens", "n_max_tokens")
    tokens = np.where(np.isfinite(comp) & (comp > 0), comp, asked)
    known = np.isfinite(tokens) & (tokens > 0)
    fill = float(np.median(tokens[known])) if known.any() else 200.0
    tokens = np.where(known, tokens, fill)
    out["answer_tokens"] = tokens
    out["mean_max_tokens"] = asked
    out["answer_len"] = np.log1p(tokens)
    length_weight = np.clip(np.log1p(tokens) / np.log1p(400.0), 0.1, 1.0)

    n_cot = acc["n_cot"].to_numpy(dtype=float)
    base = float(n_cot.sum() / max(n.sum(), 1.0))
    out["cot_rate"] = n_cot / np.maximum(n, 1)
    out["cot"] = (n_cot + PRIOR_REQUESTS * base) / (n + PRIOR_REQUESTS) * length_weight

    lp_rate = acc["n_lp"].to_numpy(dtype=float) / np.maximum(n, 1)
    top = np.nan_to_num(ratio("sum_top_lp", "n_lp"))
    out["lp_rate"] = lp_rate
    out["mean_top_lp"] = top
    shrunk_lp = acc["n_lp"].to_numpy(dtype=float) / (n + PRIOR_REQUESTS)
    out["logprob_entries"] = np.log1p(shrunk_lp * (top + 1.0) * tokens)
    out["bias_ids"] = np.log1p(acc["distinct_bias_ids"].fillna(0).to_numpy(dtype=float))
    ask_tokens = (
        acc["sum_ask_chars"].to_numpy(dtype=float) / np.maximum(n, 1) / 4.0
        if "sum_ask_chars" in acc
        else 50.0
    )
    out["ask_tokens"] = ask_tokens
    out["amplification"] = np.log(tokens / np.maximum(ask_tokens, 4.0))
    distinct = acc["n_distinct_prompts"].to_numpy(dtype=float) if "n_distinct_prompts" in acc else n
    out["distinct_prompts"] = distinct
    shared = acc["n_shared_prompts"].to_numpy(dtype=float) if "n_shared_prompts" in acc else np.zeros(len(n))
    out["shared_prompts"] = shared
    cross = (
        acc["n_cross_model_prompts"].to_numpy(dtype=float)
        if "n_cross_model_prompts" in acc
        else np.zeros(len(n))
    )
    out["cross_model"] = np.nan_to_num(cross) / np.maximum(distinct, 1.0)
    log_cross = (
        acc["n_log_cross_model_prompts"].to_numpy(dtype=float)
        if "n_log_cross_model_prompts" in acc
        else cross
    )
    out["log_cross_model"] = np.minimum(np.nan_to_num(log_cross) / np.maximum(distinct, 1.0), 1.0)
    novel = np.maximum(distinct - shared, 1.0)
    out["reach"] = np.log(novel * tokens * (1.0 + lp_rate * top))
    jac = np.array([mean_pairwise_jaccard(samples.get(a, [])) for a in out["account"]])
    out["sample_jaccard"] = jac
    out["diversity"] = 1.0 - jac
    quiet = quiet_window_counts(hours, out["account"].tolist()) if hours is not None else np.zeros(len(n))
    out["quiet_share"] = quiet / np.maximum(n, 1)
    out["round_the_clock"] = quiet / (n + PRIOR_REQUESTS)
    longest = acc["max_session_n"].to_numpy(dtype=float) if "max_session_n" in acc else np.ones(len(n))
    out["longest_session"] = np.nan_to_num(longest, nan=1.0)
    out["long_session"] = np.log1p(out["longest_session"].to_numpy())
    # over every request where the engine counted heads (a sample taken every k-th request can land on one
    # task family of a sweep that cycles through them), else over the sampled prompts
    counted = np.full(len(n), np.nan)
    if "top_head_n" in acc:
        counted = acc["top_head_n"].to_numpy(dtype=float) / np.maximum(n, 1)
    use_count = np.isfinite(counted) & (n >= 3)
    out["top_head_share"] = [
        c if use else top_head_share(samples.get(a, []))  # only where the engine did not count
        for a, c, use in zip(out["account"], counted, use_count, strict=True)
    ]
    for column, count in (("tool_share", "n_tool_steps"), ("tool_call_share", "n_tool_calls")):
        steps = acc[count].fillna(0).to_numpy(dtype=float) if count in acc else np.zeros(len(n))
        out[column] = steps / np.maximum(n, 1)
    if dispersion is not None:
        out["dispersion"] = [dispersion.get(a, np.nan) for a in out["account"]]
    return out
