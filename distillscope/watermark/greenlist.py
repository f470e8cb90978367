"""Green lists of the Kirchenbauer et al. (2023) watermark, bit-for-bit as transformers makes them.

transformers' ``WatermarkLogitsProcessor`` (v5) seeds a CPU ``torch.Generator``
and takes the first ``int(vocab_size * gamma)`` entries of
``torch.randperm(vocab_size)`` as the green list. The seed is

- ``lefthash``: ``hashing_key * previous_token`` (only the last token of the
  context window counts, whatever ``context_width`` is);
- ``selfhash``: ``min(hashing_key * (T[w] + 1) * (T[token] + 1))`` over the window
  ``w`` of the ``context_width`` tokens ending with the scored token itself, in
  int64 arithmetic (it wraps), where ``T`` is ``randperm(1_000_003)`` drawn from
  ``hashing_key``;

then reduced modulo ``2**64 - 1``. (torch's CPU Mersenne Twister keeps only the
low 32 bits of a seed, so two seeds equal modulo 2**32 give the same list.)
This module reproduces that recipe with the same torch calls, always on the
CPU, so that green lists agree with transformers run on the CPU.

It also groups many (seed, token) questions by seed so each green list is drawn
once. It must not know about configs, accounts or models.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

SEED_MODULUS = 2**64 - 1
TABLE_SIZE = 1_000_003
#: transformers' selfhash processor tests the 40 most likely candidates.
SELFHASH_CANDIDATES = 40


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread for a while.

    ``randperm`` fills its output with a parallel loop first; on a busy machine
    waking the thread pool for it costs 10-20x the permutation itself. The
    permutation is identical for any thread count.
    """
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@lru_cache(maxsize=8)
def _fixed_table(key: int) -> torch.Tensor:
    generator = torch.Generator(device="cpu")
    generator.manual_seed(key)
    return torch.randperm(TABLE_SIZE, generator=generator)


@dataclass(frozen=True)
class GreenListSpec:
    """One watermark key with its scheme: everything needed to draw a green list."""

    key: int
    vocab_size: int
    gamma: float = 0.25
    scheme: str = "lefthash"
    context_width: int = 1

    def __post_init__(self) -> None:
        if self.scheme not in ("lefthash", "selfhash"):
            raise ValueError(f"unknown seeding scheme {self.scheme!r}")
        if not 1 <= self.key < 2**63:
            raise ValueError("a watermark key must be an integer in [1, 2**63)")
        if self.context_width < 1:
            raise ValueError("context_width must be >= 1")
        if not 1 <= self.greenlist_size < self.vocab_size:
            raise ValueError("gamma * vocab_size must give between 1 and vocab_size - 1 green tokens")

    @property
    def greenlist_size(self) -> int:
        return int(self.vocab_size * self.gamma)

    @property
    def p_green(self) -> float:
        """The exact chance that a fixed token is green under a random key: the test's null rate."""
        return self.greenlist_size / self.vocab_size

    @property
    def first_scored(self) -> int:
        """Index of the first token of a sequence that can be scored (as transformers' detector)."""
        return self.context_width if self.scheme == "lefthash" else self.context_width - 1

    # -- seeds -----------------------------------------------------------------------

    def seeds(self, windows: torch.Tensor) -> list[int]:
        """Seeds for a batch of windows ``(N, context_width)``.

        For ``lefthash`` a window is the ``context_width`` tokens before the scored
        token; for ``selfhash`` it ends with the scored token itself.
        """
        windows = windows.to("cpu", torch.long)
        if windows.ndim != 2 or windows.shape[1] != self.context_width:
            raise ValueError(f"windows must have shape (N, {self.context_width})")
        if self.scheme == "lefthash":
            # Python integers, as transformers' `hash_key * input_seq[-1].item()`.
            return [(self.key * last) % SEED_MODULUS for last in windows[:, -1].tolist()]
        table = _fixed_table(self.key)
        a = table[windows % TABLE_SIZE] + 1
        b = table[windows[:, -1:] % TABLE_SIZE] + 1
        products = self.key * a * b  # int64, wraps exactly like transformers' tensor product
        return [seed % SEED_MODULUS for seed in products.min(dim=1).values.tolist()]

    # -- green lists -----------------------------------------------------------------

    def green_ids(self, seed: int) -> torch.Tensor:
        """The green token ids for one seed (first ``gamma * V`` entries of the permutation)."""
        generator = torch.Generator(device="cpu")
        generator.manual_seed(seed)
        return torch.randperm(self.vocab_size, generator=generator)[: self.greenlist_size]

    def green_mask(self, seed: int) -> torch.Tensor:
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        mask[self.green_ids(seed)] = True
        return mask

    def is_green(self, seeds: Sequence[int], tokens: Sequence[int]) -> np.ndarray:
        """Whether each ``tokens[i]`` is green under ``seeds[i]``; one permutation per distinct seed."""
        if len(seeds) != len(tokens):
            raise ValueError("seeds and tokens must have the same length")
        out = np.zeros(len(tokens), dtype=bool)
        by_seed: dict[int, list[int]] = {}
        for index, seed in enumerate(seeds):
            by_seed.setdefault(seed, []).append(index)
        token_array = np.asarray(tokens, dtype=np.int64)
        if token_array.size and (token_array.min() < 0 or token_array.max() >= self.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.vocab_size})")
        with single_thread():
            for seed, indices in by_seed.items():
                mask = self.green_mask(seed).numpy()
                out[indices] = mask[token_array[indices]]
        return out

    def greenlist_for_context(self, context: torch.Tensor) -> torch.Tensor:
        """The green ids that follow ``context`` under ``lefthash`` (what the processor boosts)."""
        if self.scheme != "lefthash":
            raise ValueError("under selfhash the green list depends on the candidate token")
        return self.green_ids(self.seeds(context[-self.context_width :].reshape(1, -1))[0])

    def selfhash_green_candidates(self, context: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """The candidates that are green in their own green list (transformers' selfhash rule)."""
        if candidates.numel() == 0:
            return candidates
        keep = self.context_width - 1
        prefix = context[-keep:] if keep > 0 else context[:0]
        if prefix.numel() < keep:
            return candidates[:0]
        windows = torch.cat([prefix.expand(candidates.numel(), keep), candidates.reshape(-1, 1)], dim=1)
        green = self.is_green(self.seeds(windows), candidates.tolist())
        return candidates[torch.from_numpy(green)]


def scoring_windows(ids: Sequence[int], spec: GreenListSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """The windows and scored tokens of one token sequence, as transformers' detector scores them.

    Returns ``(windows (N, context_width), targets (N,))``; ``N`` is 0 for a
    sequence too short to score.
    """
    tensor = torch.as_tensor(list(ids), dtype=torch.long)
    width = spec.context_width
    start = spec.first_scored
    if tensor.numel() <= start:
        return torch.zeros((0, width), dtype=torch.long), torch.zeros(0, dtype=torch.long)
    targets = tensor[start:]
    if spec.scheme == "lefthash":
        windows = tensor.unfold(0, width, 1)[: targets.numel()]
    else:
        windows = tensor.unfold(0, width, 1)
    return windows, targets
