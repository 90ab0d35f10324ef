import numpy as np

from alignlab.oversight import debate_lm as L


class FakeLM:
    """Scores completions by how many of their words appear in the prompt's last turn;
    as judge it always prefers the letter A by a wide margin."""

    name = "fake"

    def logprobs(self, prompts, completions):
        out = []
        for p, c in zip(prompts, completions, strict=True):
            text = p[-1]["content"] if isinstance(p, list) else p
            if c in ("A", "B"):
                out.append([0.0 if c == "A" else -5.0])
            else:
                words = L.normalise(c).split()
                out.append([float(sum(w in L.normalise(text) for w in words))] * len(words))
        return out


def test_questions_have_known_answers_in_the_story():
    for q in L.make_questions(20, seed=0):
        name = next(n for n in L.NAMES if n in q.question)
        right, wrong = q.answers[q.correct], q.answers[1 - q.correct]
        assert any(name in s and right in s for s in q.story)
        assert not any(name in s and wrong in s for s in q.story)
        assert any(wrong in s for s in q.story)  # the distractor has a true sentence too


def test_quotes_are_checked_against_the_story():
    story = ("Ava lives in Oslo.", "Ben keeps a gecko.")
    assert L.verify_quote("ava lives in oslo", story)
    assert not L.verify_quote("Ava lives in Lima.", story)
    assert not L.verify_quote("", story)


def test_debate_turns_and_order_averaged_judge():
    qs = L.make_questions(5, seed=1)
    transcripts = L.run_protocol(FakeLM(), qs, [[0, 1]] * 5, rounds=2)
    for t in transcripts:
        assert [turn.speaker for turn in t.turns] == ["A", "B", "A", "B"]
        assert all(turn.verified and turn.quote in t.question.story for turn in t.turns)
        assert t.turns[0].quote != t.turns[2].quote  # no quote repeated by one side
    # A judge that always says "A" has no information: averaging both orders gives 0.5.
    assert np.allclose(L.judge(FakeLM(), transcripts), 0.5)


def test_generate_mode_checks_free_quotes():
    class Writer(FakeLM):
        def generate(self, prompts, params=None):
            from alignlab.models import Completion
            text = "<quote>Zed lives in Nowhere.</quote> Trust me."
            return [Completion(p, text) for p in prompts]

    qs = L.make_questions(2, seed=2)
    transcripts = L.run_protocol(Writer(), qs, [[0]] * 2, rounds=1, mode="generate")
    turn = transcripts[0].turns[0]
    assert turn.quote == "Zed lives in Nowhere." and not turn.verified
    assert turn.argument == "Trust me."
    assert "[NOT FOUND]" in L.render(transcripts[0], swap=False)
