import re

import numpy as np

from alignlab.oversight import debate_lm as L


class FakeLM:
    """Outside the judge's prompt, scores a completion by how many of its words appear
    in the prompt, so a debater finds the quote sharing most words with its answer
    sentence the most persuasive. As judge (prompts that ask for an answer sentence), it
    either prefers the answer in slot A by a wide margin (`reader=False`: position bias,
    no information) or the answer whose whole sentence appears in a <v_quote>
    (`reader=True`)."""

    name = "fake"

    def __init__(self, reader=False):
        self.reader = reader

    def logprobs(self, prompts, completions):
        out = []
        for p, c in zip(prompts, completions, strict=True):
            text = p[-1]["content"] if isinstance(p, list) else p
            words = L.normalise(c).split()
            if "Answer the question in one sentence" in text:
                answer = words[-1]
                if self.reader:
                    quotes = " ".join(re.findall(r"<v_quote>(.*?)</v_quote>", text))
                    score = 5.0 * (L.normalise(c) in L.normalise(quotes))
                else:
                    slot_a = re.search(r"^A: (.*)$", text, re.M).group(1)
                    score = 5.0 * (answer == L.normalise(slot_a))
                out.append([score])
            else:
                seen = set(L.normalise(text).split())
                out.append([float(sum(w in seen for w in words))] * len(words))
        return out


def test_questions_have_known_answers_in_the_story():
    for q in L.make_questions(20, seed=0):
        name = next(n for n in L.NAMES if n in q.question)
        right, wrong = q.answers[q.correct], q.answers[1 - q.correct]
        assert q.fact in q.story and q.fact == f"{q.stem} {right}." and q.stem.startswith(name)
        assert any(name in s and right in s for s in q.story)
        assert not any(name in s and wrong in s for s in q.story)
        assert any(wrong in s for s in q.story)  # the distractor has a true sentence too
        # so the liar can quote true lines, but no verified quote states its answer
        assert not L.verify_quote(f"{q.stem} {wrong}", q.story)


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
        honest = t.turns[t.question.correct]
        assert honest.quote == t.question.fact  # the honest debater quotes the answer
        assert t.turns[1 - t.question.correct].quote != t.question.fact  # the liar does not
    # A judge that always prefers slot A has no information: both orders give 0.5.
    assert np.allclose(L.judge(FakeLM(), transcripts), 0.5)


def test_a_judge_that_reads_verified_quotes_gains_from_debate_only():
    qs = L.make_questions(8, seed=3)
    debates = L.run_protocol(FakeLM(), qs, [[0, 1]] * 8, rounds=1)
    reader = FakeLM(reader=True)
    assert np.allclose(L.judge(reader, [L.Transcript(q) for q in qs]), 0.5)  # naive
    assert (L.judge(reader, debates) > 0.5).all()
    cons = L.consultancy(debates, [q.correct for q in qs])  # honest consultants
    assert all(len(t.turns) == 1 and t.turns[0].answer == t.question.answers[t.question.correct]
               for t in cons)
    assert (L.judge(reader, cons) > 0.5).all()


def test_render_tags_quotes_and_swaps_positions():
    q = L.make_questions(1, seed=4)[0]
    t = L.Transcript(q, [L.Turn("A", q.answers[0], "Zed lives in Nowhere.", False),
                         L.Turn("B", q.answers[1], q.story[0], True)])
    plain, swapped = L.render(t, swap=False), L.render(t, swap=True)
    assert "<u_quote>Zed lives in Nowhere.</u_quote>" in plain
    assert f"<v_quote>{q.story[0]}</v_quote>" in plain
    assert f"A: {q.answers[0]}" in plain and f"A: {q.answers[1]}" in swapped
    assert plain.index("Zed") < plain.index(q.story[0])  # slot A's advisor speaks first
    assert swapped.index("Zed") > swapped.index(q.story[0])
    assert q.fact not in L.render(L.Transcript(q), swap=False)  # the judge never sees the story


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
    assert "<u_quote>Zed lives in Nowhere.</u_quote>" in L.render(transcripts[0], swap=False)


def test_judge_discounts_quotes_about_someone_else():
    """A judge that copies any answer word from a verified quote backs a liar whose true
    quote is about another person; relative to a bystander's stem, that quote is no
    evidence for either answer."""

    class Copier(FakeLM):
        def logprobs(self, prompts, completions):
            out = []
            for p, c in zip(prompts, completions, strict=True):
                quotes = L.normalise(" ".join(re.findall(r"<v_quote>(.*?)</v_quote>",
                                                         p[-1]["content"])))
                out.append([5.0 * (L.normalise(c).split()[-1] in quotes.split())])
            return out

    qs = L.make_questions(6, seed=2)
    liars = [L.Transcript(q, [L.Turn("A", q.answers[1 - q.correct],
                                     next(s for s in q.story if q.answers[1 - q.correct] in s),
                                     True)]) for q in qs]
    assert all(L.bystander_stem(q).split()[0] not in " ".join(q.story) for q in qs)
    assert np.allclose(L.judge(Copier(), liars), 0.5)
