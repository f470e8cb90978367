"""Token-string -> student-id mapping: exact on a matching vocabulary, the documented policy otherwise."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from distillscope.train.align import align_answer
from distillscope.train.vocab import TokenMapper, merge_top_logprobs


@pytest.fixture(scope="module")
def smol(tiny_model_dir: Path):
    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


@pytest.fixture(scope="module")
def words():
    """A word-level tokenizer: a vocabulary that shares nothing with SmolLM's byte-level BPE."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "hello": 1, "world": 2, "the": 3, "answer": 4, "is": 5, "42": 6, ".": 7}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")


def test_matching_vocabulary_maps_every_token_exactly(smol) -> None:
    mapper = TokenMapper(smol)
    text = " Hello wörld, 日本語 <|im_end|> 42.\n\n  x"
    ids = smol.encode(text, add_special_tokens=False)
    for token_id in ids:
        decoded = smol.decode([token_id])
        raw = smol.convert_ids_to_tokens(token_id)
        # With bytes (OpenAI's format), including tokens that are partial UTF-8 sequences.
        from distillscope.models.tokens import TokenTexts

        token_bytes = TokenTexts(smol).bytes(token_id)
        mapping = mapper.map(bytes(token_bytes).decode("utf-8", errors="replace"), token_bytes)
        assert (mapping.id, mapping.exact) == (token_id, True), (token_id, raw)
        # Raw vocabulary form, as some servers send it (when it cannot be read as text:
        # a raw "è" is also the text "è", and text wins).
        if raw.startswith(("Ġ", "Ċ")):
            assert mapper.map(raw).id == token_id
        if "\ufffd" not in decoded:  # whole characters also map from the text alone
            assert mapper.map(decoded).id == token_id


def test_special_token_maps_exactly(smol) -> None:
    mapping = TokenMapper(smol).map("<|im_end|>")
    assert mapping.id == smol.convert_tokens_to_ids("<|im_end|>") and mapping.exact


def test_non_matching_vocabulary_uses_first_token_and_marks_it_inexact(words) -> None:
    mapper = TokenMapper(words)
    hello = mapper.map(" hello")
    assert (hello.id, hello.exact) == (1, False)
    assert mapper.map("hello").id == 1
    assert mapper.map("hello world").id == 1  # first token of the encoding
    assert mapper.map("xyzzy").id is None  # unknown -> unmappable, left to the tail
    assert mapper.map("").id is None


def test_merge_sums_mass_of_strings_landing_on_one_id_and_drops_unmappable(words) -> None:
    top = [
        {"token": " hello", "logprob": math.log(0.4)},
        {"token": "hello", "logprob": math.log(0.2)},
        {"token": "xyzzy", "logprob": math.log(0.3)},
        {"token": " world", "logprob": math.log(0.05)},
    ]
    ids, logprobs, exact = merge_top_logprobs(TokenMapper(words), top)
    merged = dict(zip(ids, logprobs, strict=True))
    assert not exact
    assert set(merged) == {1, 2}
    assert math.exp(merged[1]) == pytest.approx(0.6)
    assert math.exp(merged[2]) == pytest.approx(0.05)  # 1 - 0.65 = 0.35 stays in the tail


def test_alignment_uses_teacher_tokens_when_they_map_exactly(smol) -> None:
    text = "The answer is 42."
    content = []
    for token_id in smol.encode(text, add_special_tokens=False):
        piece = smol.decode([token_id])
        entry = {"token": piece, "logprob": -0.1, "bytes": list(piece.encode())}
        entry["top_logprobs"] = [dict(entry)]
        content.append(entry)
    aligned = align_answer(text, content, smol, TokenMapper(smol))
    assert aligned.same_tokens
    assert aligned.ids == smol.encode(text, add_special_tokens=False)
    assert all(t is not None for t in aligned.targets)


def test_alignment_by_offsets_when_tokenizations_differ(smol, words) -> None:
    # Teacher (SmolLM) tokens for "hello world the answer": the word-level student sees
    # 4 words; each starts where a teacher token starts (after its space), so all align.
    text = "hello world the answer"
    content = []
    for token_id in smol.encode(text, add_special_tokens=False):
        piece = smol.decode([token_id])
        entry = {"token": piece, "logprob": -0.5, "bytes": list(piece.encode())}
        entry["top_logprobs"] = [dict(entry)]
        content.append(entry)
    aligned = align_answer(text, content, words, TokenMapper(words))
    assert not aligned.same_tokens
    assert aligned.ids == [1, 2, 3, 4]
    assert [t[0] for t in aligned.targets] == [[1], [2], [3], [4]]


def test_alignment_skips_student_tokens_inside_a_teacher_token(words) -> None:
    # Teacher token "hello." spans both student tokens "hello" and ".": the "." starts
    # inside it and gets no target.
    content = [{"token": "hello.", "logprob": -0.1, "top_logprobs": [{"token": "hello", "logprob": -0.1}]}]
    aligned = align_answer("hello.", content, words, TokenMapper(words))
    assert aligned.ids == [1, 7]
    assert aligned.targets[0] is not None and aligned.targets[1] is None
    assert aligned.stats == {"positions": 2, "aligned": 1}


def test_prompt_without_a_chat_template_is_a_plain_transcript(words) -> None:
    from distillscope.models.runtime import prompt_ids

    ids = prompt_ids(words, [{"role": "user", "content": "hello world"}])
    assert ids == words.encode("user: hello world\nassistant:")
    assert 1 in ids and 2 in ids


def test_token_bytes_are_utf8_for_a_vocabulary_that_is_not_byte_level() -> None:
    """'é' in a word-level vocabulary is two UTF-8 bytes, not GPT-2's byte 0xE9 for that character."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast

    from distillscope.models.tokens import TokenTexts, is_byte_level

    backend = Tokenizer(WordLevel({"é": 0, "plain": 1, "<unk>": 2}, unk_token="<unk>"))
    backend.pre_tokenizer = Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")
    texts = TokenTexts(tokenizer)
    assert not is_byte_level(tokenizer)
    assert texts.bytes(0) == list("é".encode()) and texts.entry(1, -0.5) == {
        "token": "plain",
        "logprob": -0.5,
        "bytes": list(b"plain"),
    }
