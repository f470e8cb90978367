"""Hidden size of a served model from its softmax bottleneck (Carlini et al. 2024; Finlayson et al. 2024).

A transformer's logits are ``W h``: every logit vector lies in a subspace whose
dimension is the hidden size ``d``. Stack the logit vectors of ``n > d`` prompts
over ``m > d`` tokens, and the matrix has numerical rank ``d``; its singular
values fall off a cliff right after the ``d``-th. An API that returns only the
top-``k`` log-probs still leaks them: add a large ``logit_bias`` to ``k - 1``
chosen tokens plus one reference token, and they become the top ``k``; the
difference of a token's log-prob and the reference's is then
``(l_i + B) - (l_ref + B) = l_i - l_ref``, free of the softmax normaliser.

Query cost: ``prompts × ceil(tokens / (k - 1))`` requests of one completion token
each (k = ``top_logprobs``, at most 20 on OpenAI-style APIs), plus a retry with a
doubled bias whenever a chosen token did not reach the top k. Recovering d = 64
takes ~80 × 80 → 80 × 5 = 400 requests; d = 576 (SmolLM2-135M) about
600 × 600 → 600 × 32 ≈ 19,000. The probe needs the endpoint's tokenizer to
choose token ids (``logit_bias`` keys) and to recognise them in the answers.

This module must not claim more than the numbers show: when the spectrum has no
clear cliff, or the cliff sits at the largest rank the sample can show, the
result says the size is only bounded below.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from distillscope.probe.endpoint import Endpoint, ProbeError, api_call, run_all

_WORDS = [
    "river",
    "stone",
    "market",
    "engine",
    "garden",
    "winter",
    "planet",
    "copper",
    "melody",
    "harbor",
    "lantern",
    "forest",
    "signal",
    "bridge",
    "circle",
    "thunder",
    "pocket",
    "velvet",
    "canyon",
    "marble",
    "orchard",
    "compass",
    "ribbon",
    "saddle",
    "meadow",
    "crystal",
    "anchor",
    "falcon",
    "violin",
    "desert",
    "island",
    "kettle",
    "mirror",
    "tunnel",
    "glacier",
    "pepper",
    "rocket",
    "shadow",
    "summer",
    "temple",
    "voyage",
    "window",
    "zebra",
    "amber",
    "breeze",
    "candle",
    "dragon",
    "ember",
    "fabric",
    "harvest",
    "ivory",
    "jungle",
    "ladder",
    "magnet",
    "nectar",
    "oyster",
    "parade",
    "quartz",
    "rhythm",
    "silver",
    "timber",
    "umbrella",
    "valley",
    "wander",
    "yellow",
    "puzzle",
    "theory",
]

#: The cliff in the spectrum must be at least this steep to name a size. Float32 log-probs after
#: a bias of B carry ~B * 6e-8 of rounding noise, so a cliff is 10-1000x, not 1e6x.
MIN_GAP = 8.0


@dataclass
class HiddenSizeResult:
    estimate: int | None  # None: no cliff found
    lower_bound_only: bool
    gap_ratio: float
    prompts: int
    tokens: int
    queries: int
    top_logprobs: int
    singular_values: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "lower_bound_only": self.lower_bound_only,
            "gap_ratio": self.gap_ratio,
            "prompts": self.prompts,
            "tokens": self.tokens,
            "queries": self.queries,
            "top_logprobs": self.top_logprobs,
            "singular_values": self.singular_values,
        }


def probe_prompts(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct, varied prompts (random word sequences; their content does not matter)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out = []
    while len(out) < count:
        text = "Continue: " + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 9)))
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def choose_tokens(tokenizer: Any, count: int, seed: int = 0) -> list[int]:
    """``count`` token ids whose display string is unique in the vocabulary (so answers name them)."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    texts: dict[str, list[int]] = {}
    for token_id in range(len(tokenizer)):
        if token_id in special:
            continue
        text = tokenizer.decode([token_id], skip_special_tokens=False)
        if text.strip() and "\ufffd" not in text:
            texts.setdefault(text, []).append(token_id)
    unique = sorted(ids[0] for ids in texts.values() if len(ids) == 1)
    if len(unique) < count:
        raise ValueError(f"the tokenizer has only {len(unique)} usable tokens, {count} were asked")
    return sorted(random.Random(seed).sample(unique, count))


def estimate_rank(matrix: Any) -> tuple[int | None, float, list[float]]:
    """(rank at the steepest cliff of the singular values, its ratio, the spectrum) of a centred matrix."""
    import numpy as np

    centred = matrix - matrix.mean(axis=0, keepdims=True)
    values = np.linalg.svd(centred, compute_uv=False)
    values = values[: min(centred.shape) - 1]  # centring removes one dimension
    if len(values) < 2 or values[0] <= 0:
        return None, 1.0, values.tolist()
    floor = values[0] * 1e-12
    ratios = values[:-1] / np.maximum(values[1:], floor)
    index = int(np.argmax(ratios))
    return index + 1, float(ratios[index]), values.tolist()


def probe_hidden_size(
    endpoint: Endpoint,
    tokenizer: Any,
    *,
    prompts: int = 96,
    tokens: int = 96,
    top_logprobs: int = 20,
    bias: float = 8.0,
    max_bias: float = 100.0,
    seed: int = 0,
    concurrency: int = 8,
) -> HiddenSizeResult:
    """Collect logit differences through the API and read the hidden size off their spectrum."""
    import numpy as np

    if top_logprobs < 2:
        raise ValueError("top_logprobs must be at least 2 (one reference token and one more)")
    if prompts < 3 or tokens < 3:
        raise ValueError("prompts and tokens must be at least 3")
    if not 0 < bias <= max_bias <= 100:
        raise ValueError("need 0 < bias <= max_bias <= 100 (the range OpenAI-style APIs accept)")
    chosen = choose_tokens(tokenizer, tokens + 1, seed)
    reference, columns = chosen[0], chosen[1:]
    text_of = {t: tokenizer.decode([t], skip_special_tokens=False) for t in chosen}
    per_query = top_logprobs - 1
    chunks = [columns[i : i + per_query] for i in range(0, len(columns), per_query)]
    texts = probe_prompts(prompts, seed)
    client = endpoint.client()
    model = endpoint.resolve_model(client)

    def ask(row: int, chunk: list[int], value: float) -> dict[str, float]:
        answer = api_call(
            lambda: client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": texts[row]}],
                max_tokens=1,
                temperature=0,
                logprobs=True,
                top_logprobs=top_logprobs,
                logit_bias={str(t): value for t in (reference, *chunk)},
            ),
            "asking for biased top_logprobs",
        )
        content = (answer.choices[0].logprobs.content or []) if answer.choices[0].logprobs else []
        if not content:
            raise ProbeError("the endpoint returned no logprobs; the hidden-size probe needs them")
        return {entry.token: entry.logprob for entry in content[0].top_logprobs}

    def measure(job: tuple[int, int]) -> tuple[int, dict[int, float]]:
        # The smallest bias that lifts every chosen token into the top k: float32 rounding
        # of (logit + bias) is the noise floor of the whole spectrum, so it grows with the bias.
        row, chunk_index = job
        chunk = chunks[chunk_index]
        value = bias
        while True:
            returned = ask(row, chunk, value)
            complete = all(text_of[t] in returned for t in (reference, *chunk))
            if complete or value >= max_bias:
                break
            value = min(max_bias, value * 2)
        if text_of[reference] not in returned:
            raise ProbeError(
                "the biased reference token is missing from top_logprobs: the endpoint does not apply "
                "logit_bias before computing log-probs (or uses another tokenizer)"
            )
        ref = returned[text_of[reference]]
        return row, {t: returned[text_of[t]] - ref for t in chunk if text_of[t] in returned}

    jobs = [(row, c) for row in range(prompts) for c in range(len(chunks))]
    matrix = np.full((prompts, len(columns)), np.nan)
    index = {t: j for j, t in enumerate(columns)}
    for row, values in run_all(measure, jobs, concurrency):
        for token, value in values.items():
            matrix[row, index[token]] = value
    missing = int(np.isnan(matrix).sum())
    if missing:
        raise ProbeError(f"{missing} biased tokens did not come back in top_logprobs even at bias {max_bias}")
    rank, ratio, values = estimate_rank(matrix)
    limit = min(prompts, len(columns)) - 1
    clear = rank is not None and ratio >= MIN_GAP and rank < limit
    return HiddenSizeResult(
        estimate=rank if clear else None,
        lower_bound_only=not clear,
        gap_ratio=ratio if math.isfinite(ratio) else 1e12,
        prompts=prompts,
        tokens=len(columns),
        queries=len(jobs),
        top_logprobs=top_logprobs,
        singular_values=values[: (rank or 0) + 8],
    )
