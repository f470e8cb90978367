"""Put the guard in front of a model: API keys, an exchange log, online risk scores, a policy.

    python examples/guard_a_model.py                        # the embedded SmolLM2
    python examples/guard_a_model.py --model path/to/hf-model

Starts the guarded server on a loopback port with a SQLite store, creates a key
for one account, sends a few requests with the official openai client (one with
a wrong key, which is refused), then reads back what the guard logged.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import openai

import distillscope as ds
from distillscope.guard.keys import KeyStore
from distillscope.guard.logstore import open_log_store
from distillscope.guard.secret import load_server_secret


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="a local HF model dir (default: the embedded teacher)")
    parser.add_argument("--db", type=Path, default=None, help="the guard's store (default: a temporary file)")
    args = parser.parse_args()
    db = str(args.db or Path(tempfile.mkdtemp(prefix="guard-example-")) / "guard.db")

    settings = ds.ServeSettings(model=args.model, port=0, db=db, max_batch_size=4)
    with ds.serve(settings) as base_url:
        key, info = KeyStore(db, load_server_secret()).create_key("alice")  # shown once, stored hashed
        client = openai.OpenAI(base_url=base_url, api_key=key)
        model = client.models.list().data[0].id
        for question in (
            "What is 2 + 2?",
            "Name a prime number.",
            "Explain your reasoning step by step: 3 * 4?",
        ):
            answer = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": question}], max_tokens=16
            )
            print(f"alice asked {question!r}: {answer.choices[0].message.content!r}")
        try:
            openai.OpenAI(base_url=base_url, api_key="ds-not-a-key", max_retries=0).models.list()
        except openai.AuthenticationError as exc:
            print(f"a wrong key is refused: HTTP {exc.status_code}")

    logged = list(open_log_store(db).iter_exchanges())
    print(f"the guard logged {len(logged)} exchanges for key {info.key_id} in {db}")
    for row in logged:
        print(f"  {row.account} {row.endpoint} status={row.status} completion_tokens={row.completion_tokens}")


if __name__ == "__main__":
    main()
