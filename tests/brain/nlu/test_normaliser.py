"""The normaliser: how people type, mapped to one spelling for the classifier."""

from __future__ import annotations

import pytest
import spacy

from brain.nlu.normaliser import feature_text, normalise_word


@pytest.mark.parametrize(("word", "normal"), [
    ("U", "you"), ("pls", "please"), ("THX", "thanks"), ("pleeeease", "pleease"),
    ("Order", "order"), ("wanna", "want to"), ("rn", "right now")])
def test_words(word: str, normal: str) -> None:
    assert normalise_word(word) == normal


def test_feature_text_drops_punctuation_and_masks_digits() -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("parley_normaliser")
    assert feature_text(nlp("Where is ORD-55821?? pls, thx!")) == (
        "where is ord-00000 please thanks")
    assert feature_text(nlp("I'm gonna cancel it")) == "i am going to cancel it"
