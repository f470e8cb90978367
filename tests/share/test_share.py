"""STIX export without prompt text or raw infrastructure, and matching a peer's bundle against own logs."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import stix2
from typer.testing import CliRunner

from distillscope.cli import app
from distillscope.records import Exchange, write_jsonl
from distillscope.share import sketch
from distillscope.share.export import ShareInputError, build_bundle, read_detection
from distillscope.share.match import load_bundle, match_logs

SALT = b"shared-out-of-band-0123456789"
ATTACK_IP = "203.0.113.77"
ATTACK_UA = "harvester/2.1 (python-httpx)"
BENIGN_IP = "198.51.100.4"
TEMPLATES = (
    "Solve the following problem step by step and show all reasoning: a train travels {a} km in {b} hours, "
    "what is its average speed?",
    "You are a helpful tutor. Explain in detail, with every intermediate step, how to compute {a} times {b}.",
)
BENIGN = (
    "what's a good name for a cat",
    "translate 'good morning' to French",
    "recipe ideas with leftover rice?",
    "help me write a birthday card for my aunt",
    "is it going to rain in Lisbon tomorrow",
    "summarise the plot of Hamlet in two lines",
)

runner = CliRunner()


def _attack(account: str, n: int, seed: int, ip: str = ATTACK_IP) -> list[Exchange]:
    rng = random.Random(seed)
    return [
        Exchange(
            id=f"{account}-{i}",
            ts=1_795_000_000 + i * 5 + seed,
            account=account,
            messages=[
                {
                    "role": "user",
                    "content": TEMPLATES[i % 2].format(a=rng.randint(2, 999), b=rng.randint(2, 99)),
                }
            ],
            ip=ip,
            user_agent=ATTACK_UA,
            params={"logprobs": True, "top_logprobs": 20},
            completion_tokens=60,
        )
        for i in range(n)
    ]


def _benign(account: str, seed: int) -> list[Exchange]:
    return [
        Exchange(
            id=f"{account}-{i}",
            ts=1_795_000_000 + i * 60 + seed,
            account=account,
            messages=[{"role": "user", "content": text}],
            ip=BENIGN_IP,
            user_agent="Mozilla/5.0",
        )
        for i, text in enumerate(BENIGN)
    ]


@pytest.fixture
def detect_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "detect"
    folder.mkdir()
    (folder / "campaigns.jsonl").write_text(
        json.dumps(
            {"campaign": "camp-atk-1+atk-2", "accounts": ["atk-1", "atk-2"], "evidence": {"ip": ATTACK_IP}}
        )
        + "\n",
        encoding="utf-8",
    )
    rows = [
        {"account": "atk-1", "score": 0.9, "flagged": True, "campaign": "camp-atk-1+atk-2", "reasons": []},
        {"account": "atk-2", "score": 0.8, "flagged": True, "campaign": "camp-atk-1+atk-2", "reasons": []},
        {"account": "alice", "score": 0.1, "flagged": False, "campaign": None, "reasons": []},
    ]
    (folder / "accounts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


@pytest.fixture
def our_log() -> list[Exchange]:
    return _attack("atk-1", 20, 1) + _attack("atk-2", 20, 2) + _benign("alice", 3)


def test_bundle_is_valid_stix_and_carries_no_prompt_or_infrastructure(
    detect_dir: Path, our_log: list[Exchange]
) -> None:
    bundle = build_bundle(read_detection(detect_dir), our_log, SALT, producer="Example AI")
    text = json.dumps(bundle)
    parsed = stix2.parse(text, allow_custom=True)
    types = [o["type"] for o in bundle["objects"]]
    assert {
        "identity",
        "campaign",
        "indicator",
        "relationship",
        "observed-data",
        "x-distillscope-traffic",
    } <= set(types)
    assert len(parsed.objects) == len(bundle["objects"])
    # No raw prompt text: no word 3-gram of any prompt, no 12-character substring of any prompt.
    lowered = text.lower()
    for exchange in our_log:
        prompt = exchange.last_user_text.lower()
        for start in range(0, max(1, len(prompt) - 12)):
            assert prompt[start : start + 12] not in lowered, prompt[start : start + 12]
        words = prompt.split()
        for i in range(len(words) - 2):
            assert " ".join(words[i : i + 3]) not in lowered
    for raw in (ATTACK_IP, ATTACK_UA, BENIGN_IP, "harvester", "camp-atk", "atk-1", "alice", SALT.decode()):
        assert raw.lower() not in lowered, raw
    templates = [o for o in bundle["objects"] if o.get("pattern_type") == "x-distillscope-minhash"]
    infra = [o for o in bundle["objects"] if o.get("pattern_type") == "x-distillscope-salted-sha256"]
    assert len(templates) == 2  # the two templates the campaign used
    assert {o["pattern"].split(":")[0] for o in infra} == {"ip", "user_agent"}


def test_one_off_prompts_are_not_exported(tmp_path: Path, detect_dir: Path) -> None:
    # A flagged account with six unrelated prompts: no cluster reaches min_cluster, so no template leaves.
    log = _benign("atk-1", 0)
    bundle = build_bundle(read_detection(detect_dir), log, SALT, min_cluster=3)
    assert not [o for o in bundle["objects"] if o.get("pattern_type") == "x-distillscope-minhash"]


def test_peer_matches_the_campaign_in_its_own_logs(
    tmp_path: Path, detect_dir: Path, our_log: list[Exchange]
) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(build_bundle(read_detection(detect_dir), our_log, SALT)), encoding="utf-8")
    shared = load_bundle(path)
    # The peer sees the same campaign from new accounts: same templates with new numbers; one account also
    # reuses the IP, another comes from elsewhere. Benign users must not match.
    peer_log = (
        _attack("peer-x", 10, 7)
        + _attack("peer-y", 10, 8, ip="192.0.2.200")
        + _benign("peer-benign", 9)
        + [
            Exchange(
                id="lone",
                ts=1.0,
                account="peer-lone",
                messages=[{"role": "user", "content": "hi"}],
                ip=ATTACK_IP,
            )
        ]
    )
    result = match_logs(shared, peer_log, SALT, threshold=0.5)
    by_account = {a.account: a for a in result.accounts}
    assert result.scanned == len(peer_log)
    assert by_account["peer-x"].template_hits == 10 and by_account["peer-x"].infra_hits == {
        "ip": 10,
        "user_agent": 10,
    }
    assert by_account["peer-y"].template_hits == 10 and "ip" not in by_account["peer-y"].infra_hits
    assert by_account["peer-lone"].template_hits == 0 and by_account["peer-lone"].infra_hits == {"ip": 1}
    assert "peer-benign" not in by_account
    assert by_account["peer-x"].campaigns == ["distillation campaign 1"]


def test_wrong_salt_is_refused(tmp_path: Path, detect_dir: Path, our_log: list[Exchange]) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(build_bundle(read_detection(detect_dir), our_log, SALT)), encoding="utf-8")
    with pytest.raises(sketch.SaltError, match="another salt"):
        match_logs(load_bundle(path), our_log, b"some-other-salt-of-16+bytes")


def test_keyed_minhash_depends_on_the_salt() -> None:
    parts = sketch.shingles("Explain in detail how to compute 12 times 7")
    assert "compute <n> times" in parts  # textsig normalisation: numbers become <n>
    a = sketch.minhash_of(parts, SALT)
    assert a.jaccard(sketch.minhash_of(parts, SALT)) == 1.0
    assert a.jaccard(sketch.minhash_of(parts, b"x" * 16 + b"different")) < 0.2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "invalid JSON"),
        ('{"type": "bundle", "id": "bundle--nope", "objects": [{"type": "indicator"}]}', "not a valid STIX"),
        ("[1, 2]", "not a valid STIX|not a STIX bundle"),
    ],
)
def test_malformed_bundles_fail_clearly(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ShareInputError, match=message):
        load_bundle(path)


def test_malformed_detection_output_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "campaigns.jsonl").write_text('{"campaign": "c", "accounts": "atk-1"}\n', encoding="utf-8")
    (tmp_path / "accounts.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(ShareInputError, match="campaigns.jsonl:1"):
        read_detection(tmp_path)
    (tmp_path / "campaigns.jsonl").write_text("{oops\n", encoding="utf-8")
    with pytest.raises(ShareInputError, match="campaigns.jsonl:1: invalid JSON"):
        read_detection(tmp_path)
    (tmp_path / "campaigns.jsonl").write_text('\n["c", "atk-1"]\n', encoding="utf-8")
    with pytest.raises(ShareInputError, match="campaigns.jsonl:2: expected a JSON object, got array"):
        read_detection(tmp_path)


def test_cli_export_and_match(tmp_path: Path, detect_dir: Path, our_log: list[Exchange], monkeypatch) -> None:
    log = tmp_path / "log.jsonl"
    write_jsonl(our_log, log)
    with open(log, "a", encoding="utf-8") as handle:
        handle.write("{broken line\n")
    bundle = tmp_path / "out" / "bundle.json"
    result = runner.invoke(
        app, ["share", "export", str(detect_dir), "--logs", str(log), "--out", str(bundle)]
    )
    assert result.exit_code == 2 and "no salt" in " ".join(result.output.split())
    monkeypatch.setenv("DISTILLSCOPE_SHARE_SALT", SALT.decode())
    result = runner.invoke(
        app, ["share", "export", str(detect_dir), "--logs", str(log), "--out", str(bundle)]
    )
    assert result.exit_code == 0, result.output
    assert "skipped 1 malformed" in " ".join(result.output.split())
    assert ATTACK_IP not in bundle.read_text(encoding="utf-8")
    result = runner.invoke(app, ["share", "match", str(bundle), str(log)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert {r["account"] for r in rows} == {"atk-1", "atk-2"}
    monkeypatch.setenv("DISTILLSCOPE_SHARE_SALT", "short")
    result = runner.invoke(app, ["share", "match", str(bundle), str(log)])
    assert result.exit_code == 2 and "at least 16 bytes" in " ".join(result.output.split())
