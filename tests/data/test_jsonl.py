import json

import pytest

from alignlab.data import (
    Conversation,
    DataError,
    PreferencePair,
    Sample,
    StepTrace,
    from_hf_dataset,
    read_jsonl,
    to_hf_dataset,
    write_jsonl,
)


def test_roundtrip_each_record_type(tmp_path):
    records = {
        Sample: [Sample("2+2?", "4", {"split": "train"}), Sample("hi")],
        PreferencePair: [PreferencePair("p", "good", "bad")],
        Conversation: [Conversation.from_dict(
            {"messages": [{"role": "user", "content": "hi"},
                          {"role": "assistant", "content": "hello"}]})],
        StepTrace: [StepTrace("1+2*3", ("2*3=6", "1+6=7"), (1, 1), "7", True)],
    }
    for kind, rows in records.items():
        path = write_jsonl(tmp_path / f"{kind.__name__}.jsonl", rows)
        assert read_jsonl(path, kind) == rows


@pytest.mark.parametrize("lines, where", [
    (['{"prompt": "a"}', '{"prompt": "b"', '{"prompt": "c"}'], ":2: invalid JSON"),
    (['{"prompt": "a"}', '', '{"prompt": 3}'], ":3: field 'prompt': expected str"),
    (['["not", "an", "object"]'], ":1: expected a JSON object"),
    (['{"target": "x"}'], ":1: field 'prompt': missing"),
    (['{"prompt": "a", "meta": 5}'], ":1: field 'meta'"),
])
def test_bad_sample_files_name_line_and_field(tmp_path, lines, where):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines))
    with pytest.raises(DataError) as err:
        read_jsonl(path, Sample)
    assert str(path) + where in str(err.value)


def test_bad_preference_and_trace(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": "p", "chosen": "a"}) + "\n")
    with pytest.raises(DataError, match="field 'rejected': missing"):
        read_jsonl(path, PreferencePair)
    path.write_text(json.dumps({"prompt": "p", "steps": ["a", "b"], "step_labels": [1],
                                "answer": "3", "correct": True}) + "\n")
    with pytest.raises(DataError, match="step_labels"):
        read_jsonl(path, StepTrace)
    path.write_text(json.dumps({"messages": [{"role": "robot", "content": "x"}]}) + "\n")
    with pytest.raises(DataError, match=r"messages\[0\].role"):
        read_jsonl(path, Conversation)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_jsonl(tmp_path / "nope.jsonl", Sample)


def test_write_is_atomic_on_failure(tmp_path):
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [Sample("old")])

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        write_jsonl(path, [{"prompt": "new"}, {"prompt": Unserialisable()}])
    assert read_jsonl(path, Sample) == [Sample("old")]  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temp left behind


def test_hf_dataset_interop():
    rows = [PreferencePair("p1", "a", "b"), PreferencePair("p2", "c", "d", {"k": 1})]
    ds = to_hf_dataset(rows)
    assert ds.num_rows == 2 and set(ds.column_names) >= {"prompt", "chosen", "rejected"}
    assert [r.chosen for r in from_hf_dataset(ds, PreferencePair)] == ["a", "c"]
    with pytest.raises(DataError, match="dataset row 0"):
        from_hf_dataset([{"prompt": "x"}], PreferencePair)
