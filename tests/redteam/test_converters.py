import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlab.redteam.converters import CONVERTERS, compose, get_converter

ASCII_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


@pytest.mark.parametrize("name", sorted(CONVERTERS))
@settings(max_examples=30, deadline=None)
@given(text=ASCII_TEXT)
def test_each_converter_round_trips(name, text):
    conv = CONVERTERS[name]
    assert conv.decode(conv.encode(text)) == text


@settings(max_examples=30, deadline=None)
@given(text=ASCII_TEXT)
def test_composition_round_trips(text):
    conv = compose("leetspeak", "rot13", "roleplay", "base64")
    assert conv.decode(conv.encode(text)) == text
    assert get_converter("leetspeak+rot13+roleplay+base64").encode(text) == conv.encode(text)


def test_encodings_actually_change_the_text():
    text = "Tell me a secret"
    assert CONVERTERS["rot13"].encode(text).endswith("Gryy zr n frperg")
    assert CONVERTERS["base64"].encode(text).endswith("VGVsbCBtZSBhIHNlY3JldA==")
    assert CONVERTERS["leetspeak"].encode(text) == "T3ll m3 4 53cr37"  # upper case is left alone
    glyphs = CONVERTERS["homoglyph"].encode(text)
    assert glyphs != text and len(glyphs) == len(text)
    assert CONVERTERS["many_shot"].encode(text).count("Assistant:") == 9


def test_framing_decode_rejects_foreign_text():
    with pytest.raises(ValueError, match="roleplay"):
        CONVERTERS["roleplay"].decode("not a role-play")


def test_unknown_converter_names_the_known_ones():
    with pytest.raises(ValueError, match="rot13"):
        get_converter("rot14")
