"""What a real client found: lm-evaluation-harness scoring through ``/v1/completions``.

lm-eval asks ``echo: true, logprobs: 1, max_tokens: 1`` and drops the *last* log-prob
entry as "the generated token". When that token was the end-of-sequence token and
the server left it out of the log-prob fields (while counting it in ``usage``),
lm-eval dropped a real prompt token instead and its scores were off by whole nats.

Here the real ``lm-eval`` (``local-completions``, a local tokenizer directory, a small
JSONL multiple-choice task written by the test, no hub access) runs against
``distillscope serve`` in its own process, on a tiny model built so that greedy
decoding always picks EOS, and its log-likelihoods are checked against transformers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .helpers import TINY, TinyServer, all_logprobs

PROMPT = "The capital of France is"
DOCS = [
    {"question": "What is the capital of France?", "choices": ["Paris", "Rome", "Berlin"], "answer": 0},
    {"question": "How many legs has a cat?", "choices": ["two", "four", "six"], "answer": 1},
    {"question": "Which is a colour?", "choices": ["table", "green", "run"], "answer": 1},
    {"question": "What do bees make?", "choices": ["honey", "steel", "glass"], "answer": 0},
]


# -- the server side, directly ---------------------------------------------------------------


def test_generated_eos_is_in_every_logprob_field(tiny_server: TinyServer, tiny_tokenizer) -> None:
    eos = sorted(tiny_server.backend.engine.eos_token_ids)[0]
    prompt_ids = tiny_tokenizer(PROMPT)["input_ids"]
    kwargs = dict(model=TINY, prompt=PROMPT, max_tokens=1, echo=True, logprobs=1, temperature=0)
    response = tiny_server.client().completions.create(logit_bias={str(eos): 100}, **kwargs)
    choice = response.choices[0]
    assert choice.finish_reason == "stop" and response.usage.completion_tokens == 1
    lp = choice.logprobs
    n = len(prompt_ids) + 1  # the prompt, then the generated EOS
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == n
    assert lp.tokens[-1] == tiny_tokenizer.decode([eos]) and choice.text == PROMPT  # EOS adds no text
    assert lp.text_offset[-1] == len(PROMPT) and lp.token_logprobs[-1] > -1e-3  # forced: p ~ 1
    streamed = list(
        tiny_server.client().completions.create(logit_bias={str(eos): 100}, stream=True, **kwargs)
    )
    tokens = [
        t for c in streamed if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.tokens
    ]
    assert tokens == lp.tokens
    chat = tiny_server.client().chat.completions.create(
        model=TINY,
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=1,
        logprobs=True,
        logit_bias={str(eos): 100},
    )
    assert chat.choices[0].logprobs.content == []  # chat lists the message's tokens, as OpenAI's does


# -- the real lm-eval against `distillscope serve` ----------------------------------------------


@pytest.fixture(scope="module")
def eos_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama whose greedy choice is always EOS (a constant residual direction it reads)."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    from distillscope.models import tiny_model_config

    out = tmp_path_factory.mktemp("eos-model") / "eos-tiny"
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    config = tiny_model_config(vocab_size=len(tokenizer))
    config.tie_word_embeddings = False
    torch.manual_seed(1)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.model.embed_tokens.weight[:, 0] = 1.0  # every position carries +1 in dimension 0
        model.lm_head.weight[tokenizer.eos_token_id, 0] = 1.0  # ... which EOS alone reads strongly
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(eos_model_dir: Path) -> Iterator[str]:
    """``distillscope serve --model DIR`` in its own process; yields the base URL."""
    port = _free_port()
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [
        sys.executable,
        "-m",
        "distillscope.cli",
        "serve",
        "--model",
        str(eos_model_dir),
        "--port",
        str(port),
        "--threads",
        "1",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "distillscope serve did not start"
            try:
                if httpx.get(base.removesuffix("/v1") + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=90)


RUN_LM_EVAL = textwrap.dedent(
    """
    import json, sys
    import lm_eval
    from lm_eval.tasks import TaskManager
    model_args, include, out = sys.argv[1:4]
    result = lm_eval.simple_evaluate(
        model="local-completions", model_args=model_args, tasks=["ds_tiny_mc"],
        task_manager=TaskManager(include_path=include), log_samples=True, batch_size=1,
    )
    samples = [
        {"arguments": [list(a) for a in s["arguments"]], "resps": s["resps"], "doc": s["doc"]}
        for s in result["samples"]["ds_tiny_mc"]
    ]
    json.dump({"samples": samples, "acc": result["results"]["ds_tiny_mc"]["acc,none"]}, open(out, "w"),
              default=float)
    """
)


def _task(folder: Path) -> None:
    data = folder / "docs.jsonl"
    data.write_text("".join(json.dumps(doc) + "\n" for doc in DOCS))
    (folder / "ds_tiny_mc.yaml").write_text(
        textwrap.dedent(
            f"""
            task: ds_tiny_mc
            dataset_path: json
            dataset_kwargs:
              data_files:
                test: {data}
            test_split: test
            output_type: multiple_choice
            doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
            doc_to_choice: "{{{{choices}}}}"
            doc_to_target: "{{{{answer}}}}"
            metric_list:
              - metric: acc
            """
        )
    )


def _reference(model: Any, tokenizer: Any, context: str, continuation: str) -> float:
    """log p(continuation | context) by transformers, tokenised the way lm-eval does."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    head = len(tokenizer(context, add_special_tokens=False)["input_ids"])
    logprobs = all_logprobs(model, whole)
    return float(sum(logprobs[j - 1, whole[j]] for j in range(head, len(whole))))


def test_lm_eval_loglikelihoods_match_transformers(served: str, eos_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("lm_eval")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(eos_model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(eos_model_dir)).eval()
    generated = httpx.post(
        served + "/completions",
        timeout=60,
        json={
            "model": eos_model_dir.name,
            "prompt": "Question: x\nAnswer:",
            "max_tokens": 1,
            "temperature": 0,
        },
    )
    assert generated.json()["choices"][0]["finish_reason"] == "stop"  # greedy really picks EOS here

    _task(tmp_path)
    model_args = (
        f"model={eos_model_dir.name},base_url={served}/completions,tokenizer={eos_model_dir},"
        "tokenizer_backend=huggingface,num_concurrent=1,max_retries=1,tokenized_requests=True"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_CACHE": str(tmp_path / "hf-datasets"),
    }
    out = tmp_path / "result.json"
    run = subprocess.run(
        [sys.executable, "-c", RUN_LM_EVAL, model_args, str(tmp_path), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    scored = 0
    for sample in result["samples"]:
        for (context, continuation), resp in zip(sample["arguments"], sample["resps"], strict=True):
            loglik = float(resp[0][0])
            assert loglik == pytest.approx(_reference(model, tokenizer, context, continuation), abs=2e-3)
            scored += 1
    assert scored == sum(len(doc["choices"]) for doc in DOCS)
