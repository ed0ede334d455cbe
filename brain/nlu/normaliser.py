"""The ``parley_normaliser`` spaCy component: how people type, mapped to how words look.

It writes ``token.norm_`` (spaCy's own slot for normal forms) so every later component
sees one spelling: lower case, chat short forms expanded ("u" → "you", "pls" → "please"),
elongations shortened ("pleeease" → "please"). Typos are not corrected word by word here:
the intent classifier reads character n-grams, which match "ordr" to "order" without a
dictionary, and lookup tables match with spaCy's ``FUZZY`` operator.
"""

from __future__ import annotations

import re

from spacy.language import Language
from spacy.tokens import Doc

__all__ = ["SHORT_FORMS", "feature_text", "normalise_word"]

# Chat abbreviations seen in support conversations. spaCy's English tokenizer already
# expands contractions ("don't", "I'm"), so those are not repeated here.
SHORT_FORMS: dict[str, str] = {
    "u": "you", "ya": "you", "yu": "you", "ur": "your", "urs": "yours", "r": "are",
    "pls": "please", "plz": "please", "plse": "please", "pl": "please",
    "thx": "thanks", "thnx": "thanks", "thanx": "thanks", "tnx": "thanks", "ty": "thank you",
    "tysm": "thank you so much", "thks": "thanks", "thankyou": "thank you",
    "asap": "as soon as possible", "rn": "right now", "atm": "at the moment",
    "idk": "i do not know", "dunno": "do not know", "btw": "by the way", "imo": "in my opinion",
    "msg": "message", "pkg": "package", "pkgs": "packages", "ppl": "people", "b4": "before",
    "2day": "today", "2morrow": "tomorrow", "tmrw": "tomorrow", "tmr": "tomorrow",
    "tmw": "tomorrow", "cuz": "because", "coz": "because", "bc": "because", "w/": "with",
    "w/o": "without", "wanna": "want to", "gotta": "got to", "gonna": "going to",
    "k": "okay", "kk": "okay", "ok": "okay", "okey": "okay", "oki": "okay",
    "yep": "yes", "yup": "yes", "yeah": "yes", "yea": "yes", "ye": "yes", "yass": "yes",
    "nope": "no", "nah": "no", "naw": "no", "hru": "how are you", "wyd": "what are you doing",
    "acct": "account", "info": "information", "amt": "amount", "qty": "quantity",
    "hr": "hour", "hrs": "hours", "min": "minute", "mins": "minutes", "wk": "week",
    "wks": "weeks", "cust": "customer", "svc": "service", "convo": "conversation",
    "smth": "something", "sth": "something", "sb": "somebody", "abt": "about", "wat": "what",
    "wut": "what", "wht": "what", "whr": "where", "hw": "how", "cn": "can", "pls.": "please",
}

_ELONGATION = re.compile(r"(\w)\1{2,}")
_DIGIT = re.compile(r"\d")


def normalise_word(word: str) -> str:
    """The normal form of one token's text."""
    lowered = word.lower()
    expanded = SHORT_FORMS.get(lowered)
    if expanded is not None:
        return expanded
    return _ELONGATION.sub(r"\1\1", lowered)


def feature_text(doc: Doc) -> str:
    """The words a classifier sees: normal forms, no punctuation, digits as 0.

    Masking digits lets "order 48291" and "order 553" share features; the ids themselves
    are the entity extractors' business.
    """
    return " ".join(_DIGIT.sub("0", t.norm_) for t in doc if not (t.is_punct or t.is_space))


@Language.component("parley_normaliser")
def parley_normaliser(doc: Doc) -> Doc:
    for token in doc:
        if token.is_space:
            continue
        normal = normalise_word(token.norm_)
        if normal != token.norm_:
            token.norm_ = normal
    return doc
