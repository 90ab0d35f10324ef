import pytest

from alignlab.models import TargetError, parse_target
from alignlab.models.spec import FORMS


@pytest.mark.parametrize("spec, kind, value, model", [
    ("embedded", "embedded", "", ""),
    ("hf:/tmp/my-model", "hf", "/tmp/my-model", ""),
    ("hf:HuggingFaceTB/SmolLM2-135M", "hf", "HuggingFaceTB/SmolLM2-135M", ""),
    ("openai:http://localhost:8000/v1#llama-3", "openai", "http://localhost:8000/v1", "llama-3"),
    ("openai:https://x.example/v1#a#b", "openai", "https://x.example/v1#a", "b"),
    ("tiny:toy", "tiny", "toy", ""),
    ("mock:tests/replies.jsonl", "mock", "tests/replies.jsonl", ""),
])
def test_good_specs(spec, kind, value, model):
    parsed = parse_target(spec)
    assert (parsed.kind, parsed.value, parsed.model) == (kind, value, model)
    assert str(parsed) == spec


@pytest.mark.parametrize("spec", [
    "nonsense:x", "", "hf:", "openai:localhost#m", "openai:http://x/v1", "openai:http://x/v1#",
    "embedded:foo", "mock",
])
def test_bad_specs_list_valid_forms(spec):
    with pytest.raises(TargetError) as err:
        parse_target(spec)
    for form in FORMS:
        assert form in str(err.value)


def test_unknown_world_is_a_clear_error():
    from alignlab.models import load_target

    with pytest.raises(TargetError, match="known worlds"):
        load_target("tiny:no-such-world")
