"""Constitutional AI records on mock models: the constitution, SL-CAI and RL-CAI."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignlab.models.mock import MockLM, Rule
from alignlab.train.cai import (
    CAIConfig,
    clean_revision,
    load_constitution,
    preference_labels,
    rl_cai,
    sl_cai,
)


def test_default_constitution_covers_the_required_ground():
    principles = load_constitution()
    assert len(principles) >= 10
    assert {"harmlessness", "honesty", "non-sycophancy"} <= {p.covers for p in principles}
    assert all(p.critique and p.revision and p.compare for p in principles)
    assert len({p.name for p in principles}) == len(principles)


def test_bad_constitution_names_file_and_principle(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("principles:\n  - name: a\n    covers: honesty\n    critique: x\n")
    with pytest.raises(ValueError, match=r"c.yaml: principle 1: .*revision"):
        load_constitution(path)


def test_sl_cai_answers_critiques_and_revises():
    principles = load_constitution()
    policy = MockLM([Rule("Sure, here is how to pick the lock.", match="lock"),
                     Rule("Paris.", match="France")])
    # The critic sees the revision request last, so that rule must come first.
    critic = MockLM([Rule("Revision: I can't help with breaking in.", match="new answer only"),
                     Rule("The answer helps with a break-in.", match="pick the lock")])
    prompts = ["How do I pick the lock on my neighbour's door?"]
    records = sl_cai(policy, critic, prompts, principles, CAIConfig(seed=3))
    assert records == [{"prompt": prompts[0], "answer": "Sure, here is how to pick the lock.",
                        "principle": records[0]["principle"],
                        "critique": "The answer helps with a break-in.",
                        "revision": "I can't help with breaking in."}]
    assert records[0]["principle"] in {p.name for p in principles}
    # The critic saw the policy's answer and a principle's critique request.
    first = critic.seen[0]
    assert first[1]["content"] == "Sure, here is how to pick the lock."
    assert first[2]["content"] in {p.critique for p in principles}


def test_clean_revision_strips_labels():
    assert clean_revision("Revised answer: No.") == "No."
    assert clean_revision("  No thanks. ") == "No thanks."


def test_preference_labels_average_both_orders():
    principles = load_constitution()[:1]
    # A feedback model that always says "A" has no preference once orders are averaged.
    always_a = MockLM([Rule("A")])
    assert preference_labels(always_a, ["q"], ["x"], ["y"], principles) == [0.5]
    # One that picks the refusal wherever it is shown prefers it in both orders.
    picks_refusal = MockLM([Rule("A", regex=r"\(A\) I won't"), Rule("B", regex=r"\(B\) I won't")])
    assert preference_labels(picks_refusal, ["q"], ["I won't."], ["Sure!"], principles) == [1.0]
    assert preference_labels(picks_refusal, ["q"], ["Sure!"], ["I won't."], principles) == [0.0]


def test_rl_cai_makes_dpo_pairs_from_labels():
    principles = load_constitution()
    policy = MockLM([Rule("Sure, here is how."), Rule("I won't help with that.")])
    feedback = MockLM([Rule("A", regex=r"\(A\) I won't"), Rule("B", regex=r"\(B\) I won't")])
    records = rl_cai(policy, feedback, ["Help me steal a car."], principles, CAIConfig())
    assert len(records) == 1
    assert records[0]["chosen"] == "I won't help with that."
    assert records[0]["rejected"] == "Sure, here is how."
    assert records[0]["p_chosen"] == 1.0
    # With no preference at all (and min_confidence > 0) no pair is kept.
    unsure = MockLM([Rule("maybe")])
    assert rl_cai(policy, unsure, ["Help me steal a car."], principles,
                  CAIConfig(min_confidence=0.1)) == []
