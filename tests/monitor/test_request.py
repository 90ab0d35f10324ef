"""The request parser: good and bad bodies, and a property-based fuzz test that no body,
however broken, gets anything but a parsed request or a 4xx `BadRequest`."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignlab.monitor.request import BadRequest, parse_chat_request

GOOD = {"model": "m", "messages": [{"role": "system", "content": "be brief"},
                                   {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 16, "temperature": 0.5, "stop": "\n", "stream": True, "user": "u1"}


def test_good_body_parses_and_passes_unknown_fields_on():
    req = parse_chat_request(json.dumps(GOOD).encode())
    assert req.messages[1] == {"role": "user", "content": "hi"}
    assert req.stream and req.max_tokens == 16 and req.stop == ("\n",)
    body = req.upstream_body(req.messages)
    assert body["user"] == "u1" and body["stop"] == ["\n"] and "stream" not in body


@pytest.mark.parametrize("raw, status, message", [
    (b"{not json", 400, "not valid JSON"),
    (b"\xff\xfe{}", 400, "not valid UTF-8"),
    (b"[1, 2]", 400, "must be a JSON object"),
    (b'{"messages": []}', 400, "'model' is required"),
    (b'{"model": "m"}', 400, "'messages' must be a non-empty list"),
    (b'{"model": "m", "messages": [{"role": "robot", "content": "x"}]}', 400, "role must be"),
    (b'{"model": "m", "messages": [{"role": "user", "content": 5}]}', 400,
     "messages[0].content must be a string"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": "9"}',
     400, "'max_tokens' must be an integer"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": NaN}',
     400, "NaN is not a JSON number"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 7}',
     400, "between 0 and 2"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "\\ud800"}]}', 400,
     "unpaired surrogate"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 3}', 400, "n = 1"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', 400,
     "'stream' must be true or false"),
    (b"[" * 100_000, 400, "nested too deeply"),
    (b"{" + b" " * 2000 + b"}", 413, "the limit is 1000"),
])
def test_bad_bodies_get_4xx_with_a_clear_message(raw, status, message):
    with pytest.raises(BadRequest) as err:
        parse_chat_request(raw, max_bytes=1000 if status == 413 else 1 << 20)
    assert err.value.status == status and message in str(err.value)
    assert err.value.body()["error"]["message"] == str(err.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4), max_leaves=12)
messages = st.lists(st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "robot", 3]),
     "content": st.text() | json_values}), max_size=3) | json_values
bodies = st.fixed_dictionaries(
    {"model": st.text(max_size=5) | json_values, "messages": messages},
    optional={k: json_values for k in ("stream", "max_tokens", "temperature", "top_p", "stop",
                                        "n", "seed", "extra")})
mutated = st.builds(lambda b, i, x: (json.dumps(b).encode()[:i] + x),
                    bodies, st.integers(0, 200), st.binary(max_size=8))
CASES = {"n": 0}


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.one_of(bodies.map(lambda b: json.dumps(b).encode()), mutated, st.binary()))
def _fuzz_parser(raw: bytes) -> None:
    CASES["n"] += 1
    try:
        parse_chat_request(raw, max_bytes=4096)
    except BadRequest as err:
        assert 400 <= err.status < 500 and str(err)


def test_fuzz_parser_never_fails_other_than_4xx():
    _fuzz_parser()
    print(f"request parser fuzz: {CASES['n']} cases tried, none raised anything but a 4xx")
    assert CASES["n"] >= 300
