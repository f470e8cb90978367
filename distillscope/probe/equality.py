"""Are two endpoints serving the same model? A permutation test on sampled completions.

Following "Model Equality Testing" (Gao, Liang & Guestrin, 2024): sample ``s``
short completions per prompt from each endpoint, measure the maximum mean
discrepancy (MMD) between the two samples with a Hamming kernel on tokens, and
calibrate it by permuting the endpoint labels within each prompt. Under the null
(same model, same sampling) the labels are exchangeable, so the p-value
``(1 + #{T_perm >= T}) / (1 + R)`` is exact up to Monte-Carlo error. Greedy
agreement is reported beside it as a plain description, not as the test.

This module must not claim equality from a large p-value: it says "no evidence of
a difference at this sample size".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from distillscope.probe.endpoint import Endpoint, api_call, run_all
from distillscope.probe.hidden_size import probe_prompts

PAD = "\x00<end>"


@dataclass
class EqualityResult:
    a: str
    b: str
    p_value: float
    statistic: float
    permutations: int
    prompts: int
    samples_per_prompt: int
    max_tokens: int
    greedy_agreement: float

    def verdict(self, alpha: float = 0.01) -> str:
        if self.p_value < alpha:
            return f"different models (p = {self.p_value:.3g} < {alpha})"
        return f"no evidence of a difference at this sample size (p = {self.p_value:.3g})"

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "verdict": self.verdict()}


def _sample(client: Any, model: str, prompt: str, n: int, max_tokens: int, seed: int) -> list[list[str]]:
    answer = api_call(
        lambda: client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": prompt}],
            max_tokens=max_tokens,
            temperature=1.0,
            n=n,
            seed=seed,
            logprobs=True,
        ),
        "sampling completions",
    )
    out = []
    for choice in sorted(answer.choices, key=lambda c: c.index):
        content = choice.logprobs.content if choice.logprobs else None
        # Tokens when the API shows them, characters otherwise: the kernel works on either.
        out.append([t.token for t in content] if content else list(choice.message.content or ""))
    return out


def _greedy(client: Any, model: str, prompt: str, max_tokens: int) -> str:
    answer = api_call(
        lambda: client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens, temperature=0
        ),
        "greedy completion",
    )
    return answer.choices[0].message.content or ""


def _kernel(samples: list[list[str]], length: int) -> Any:
    """Hamming similarity: the share of positions where two token sequences agree (end padded)."""
    import numpy as np

    padded = np.array([(s + [PAD] * length)[:length] for s in samples], dtype=object)
    return (padded[:, None, :] == padded[None, :, :]).mean(axis=2).astype(float)


def _mmd(kernel: Any, labels: Any) -> float:
    """Unbiased MMD² of one prompt's kernel matrix for a 0/1 labelling."""
    import numpy as np

    a, b = labels == 0, labels == 1
    kaa, kbb, kab = kernel[np.ix_(a, a)], kernel[np.ix_(b, b)], kernel[np.ix_(a, b)]
    na, nb = a.sum(), b.sum()
    within_a = (kaa.sum() - np.trace(kaa)) / (na * (na - 1))
    within_b = (kbb.sum() - np.trace(kbb)) / (nb * (nb - 1))
    return float(within_a + within_b - 2 * kab.mean())


def permutation_test(
    kernels: list[Any], samples_per_side: int, permutations: int = 999, seed: int = 0
) -> tuple[float, float]:
    """(statistic, p-value): mean MMD² over prompts, labels permuted within each prompt."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = np.array([0] * samples_per_side + [1] * samples_per_side)
    observed = float(np.mean([_mmd(k, labels) for k in kernels]))
    exceed = 0
    for _ in range(permutations):
        value = np.mean([_mmd(k, rng.permutation(labels)) for k in kernels])
        exceed += value >= observed - 1e-12
    return observed, float((1 + exceed) / (1 + permutations))


def probe_equality(
    a: Endpoint,
    b: Endpoint,
    *,
    prompts: int = 12,
    samples: int = 8,
    max_tokens: int = 8,
    permutations: int = 999,
    seed: int = 0,
    concurrency: int = 4,
) -> EqualityResult:
    """Sample both endpoints on the same prompts and test whether they differ."""
    if samples < 2 or prompts < 1 or max_tokens < 1 or permutations < 1:
        raise ValueError("need samples >= 2, prompts >= 1, max_tokens >= 1, permutations >= 1")
    texts = probe_prompts(prompts, seed + 7)
    clients = [a.client(), b.client()]
    models = [a.resolve_model(clients[0]), b.resolve_model(clients[1])]

    def collect(job: tuple[int, int]) -> list[list[str]]:
        side, row = job
        # A different seed per side: the same model must still look the same, not merely replay.
        return _sample(
            clients[side], models[side], texts[row], samples, max_tokens, seed * 1000 + row * 2 + side
        )

    jobs = [(side, row) for row in range(prompts) for side in (0, 1)]
    drawn = dict(zip(jobs, run_all(collect, jobs, concurrency), strict=True))
    kernels = [_kernel(drawn[(0, row)] + drawn[(1, row)], max_tokens) for row in range(prompts)]
    statistic, p_value = permutation_test(kernels, samples, permutations, seed)
    greedy_jobs = [(side, row) for row in range(prompts) for side in (0, 1)]
    greedy = dict(
        zip(
            greedy_jobs,
            run_all(
                lambda j: _greedy(clients[j[0]], models[j[0]], texts[j[1]], max_tokens),
                greedy_jobs,
                concurrency,
            ),
            strict=True,
        )
    )
    agreement = sum(greedy[(0, r)] == greedy[(1, r)] for r in range(prompts)) / prompts
    return EqualityResult(
        a=a.label(),
        b=b.label(),
        p_value=p_value,
        statistic=statistic,
        permutations=permutations,
        prompts=prompts,
        samples_per_prompt=samples,
        max_tokens=max_tokens,
        greedy_agreement=agreement,
    )
