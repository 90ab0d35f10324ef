import json

import httpx
import pytest
import torch

from alignlab.models import LM, SamplingParams, TargetError, load_target
from alignlab.models.mock import MockLM, Rule, load_mock
from alignlab.models.openai import EndpointConfig, OpenAILM


def test_mock_rules_in_order_and_defaults_cycle(tmp_path):
    path = tmp_path / "replies.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"match": "capital of France", "reply": "Paris."},
        {"regex": r"^\d+ \+ \d+", "reply": "I think 4."},
        {"reply": "first default"},
        {"reply": "second default"},
    ]))
    lm = load_target(f"mock:{path}")
    assert isinstance(lm, LM)
    out = lm.generate(["What is the CAPITAL of france?", "2 + 2", "hi", "hello", "hey"])
    assert [c.text for c in out] == ["Paris.", "I think 4.", "first default", "second default",
                                     "first default"]
    assert len(lm.seen) == 5


def test_mock_yaml_and_bad_files(tmp_path):
    good = tmp_path / "r.yaml"
    good.write_text("- match: hello\n  reply: hi there\n")
    assert load_mock(good).generate(["hello"])[0].text == "hi there"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"match": "x", "reply": "y"}\n{"match": "no reply"}\n')
    with pytest.raises(TargetError, match="rule 2"):
        load_mock(bad)
    with pytest.raises(TargetError, match="not found"):
        load_mock(tmp_path / "missing.jsonl")


def test_mock_n_and_stop():
    lm = MockLM([Rule("alpha. beta")])
    out = lm.generate(["q1", "q2"], SamplingParams(n=2, stop=(".",)))
    assert [c.text for c in out] == ["alpha"] * 4
    assert [c.prompt for c in out] == ["q1", "q1", "q2", "q2"]


def test_tiny_generates_and_scores(toy_lm):
    params = SamplingParams(max_new_tokens=5, temperature=1.0, seed=3)
    a = toy_lm.generate(["count 3", "count 7"], params)
    b = toy_lm.generate(["count 3", "count 7"], params)
    assert [c.token_ids for c in a] == [c.token_ids for c in b]  # seeded sampling reproduces
    for c in a:
        assert 1 <= len(c.token_ids) <= 5
        assert len(c.logprobs) == len(c.token_ids)
    # Scoring a generated completion gives back the logprobs recorded while generating.
    greedy = toy_lm.generate(["count 3"], SamplingParams(max_new_tokens=4))[0]
    ids = greedy.token_ids
    with torch.no_grad():
        from alignlab.models.hf import sequence_logprobs

        scored = sequence_logprobs(toy_lm.model, toy_lm.encode(["count 3"]), [ids], toy_lm.pad_id)
    assert torch.allclose(scored[0], torch.tensor(greedy.logprobs), atol=1e-4)


def test_tiny_word_tokenizer_roundtrip(toy_lm):
    ids = toy_lm.tokenizer("count 3 4 5", add_special_tokens=False)["input_ids"]
    assert toy_lm.tokenizer.decode(ids) == "count 3 4 5"
    assert toy_lm.tokenizer.decode(toy_lm.tokenizer("zebra")["input_ids"][1:]) == "<unk>"


def _endpoint(handler, **kw) -> OpenAILM:
    return OpenAILM(EndpointConfig("http://test.local/v1", "m", backoff_s=0.0, **kw),
                    transport=httpx.MockTransport(handler))


def test_openai_backend_request_and_parse(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((request.url.path, request.headers.get("authorization"), body))
        return httpx.Response(200, json={"choices": [
            {"message": {"content": f"echo {body['messages'][-1]['content']}"},
             "finish_reason": "stop", "logprobs": {"content": [{"logprob": -0.5}]}}]})

    out = _endpoint(handler).generate(["a", "b"], SamplingParams(max_new_tokens=7, seed=1))
    assert [c.text for c in out] == ["echo a", "echo b"]
    assert out[0].logprobs == [-0.5]
    path, auth, body = seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer sk-test"
    assert body["max_tokens"] == 7 and body["seed"] == 1 and body["model"] == "m"


def test_openai_backend_retries_then_gives_clear_error():
    calls = {"n": 0}

    def flaky(request):
        calls["n"] += 1
        if calls["n"] < 3:
            return httpx.Response(503, text="busy")
        return httpx.Response(200, json={"choices": [{"message": {"content": "ok"}}]})

    assert _endpoint(flaky, retries=3).generate(["x"])[0].text == "ok"
    assert calls["n"] == 3

    def down(request):
        raise httpx.ConnectError("refused")

    with pytest.raises(TargetError, match="unreachable"):
        _endpoint(down, retries=1).generate(["x"])

    def bad_request(request):
        return httpx.Response(400, text="bad model")

    with pytest.raises(TargetError, match="400"):
        _endpoint(bad_request).generate(["x"])


@pytest.mark.embedded
def test_embedded_knows_paris(embedded_lm):
    out = embedded_lm.generate(["What is the capital of France?"],
                               SamplingParams(max_new_tokens=24))
    assert "paris" in out[0].text.lower()
    assert embedded_lm.chat and 130e6 < embedded_lm.n_params < 140e6
    scored = embedded_lm.logprobs(["What is the capital of France?"], [out[0].text])[0]
    assert len(scored) > 0 and all(lp <= 0 for lp in scored)


def test_hf_backend_loads_a_saved_directory(tmp_path, toy_lm):
    toy_lm.model.save_pretrained(tmp_path)
    toy_lm.tokenizer.save_pretrained(tmp_path)
    lm = load_target(f"hf:{tmp_path}")
    assert not lm.chat  # a word-level tokenizer carries no chat template
    params = SamplingParams(max_new_tokens=4)
    assert lm.generate(["count 2"], params)[0].token_ids == \
        toy_lm.generate(["count 2"], params)[0].token_ids
