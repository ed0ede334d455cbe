"""Session tokens: stable for their session, unforgeable, expiring."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.errors import Unauthorized
from channels.web.session import SessionSigner
from tests.channels.strategies import any_text

SECRET = "a-secret-of-enough-length"


def test_a_token_names_its_session_and_a_reissue_keeps_it() -> None:
    signer = SessionSigner(SECRET, max_age=60, now=lambda: 1000.0)
    token, session = signer.issue()
    assert len(session.session_id) == 22
    assert signer.verify(token) == session
    again, same = signer.issue(session.session_id)
    assert same.session_id == session.session_id
    assert signer.verify(again).session_id == session.session_id
    assert signer.issue()[1].session_id != session.session_id


@pytest.mark.parametrize("tamper", [
    lambda t: t.replace(t.split(".")[1], "A" * 22),       # another conversation
    lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # another MAC
    lambda t: t.rsplit(".", 1)[0],                         # no MAC
    lambda t: "v2" + t[2:],                                 # unknown version
])
def test_tampered_tokens_are_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    signer = SessionSigner(SECRET, max_age=60)
    token, _ = signer.issue()
    with pytest.raises(Unauthorized):
        signer.verify(tamper(token))


def test_a_token_of_another_key_or_too_old_is_refused() -> None:
    now = [1000.0]
    signer = SessionSigner(SECRET, max_age=60, now=lambda: now[0])
    token, _ = signer.issue()
    with pytest.raises(Unauthorized, match="invalid"):
        SessionSigner("another-secret-entirely", max_age=60).verify(token)
    now[0] += 61
    with pytest.raises(Unauthorized, match="expired"):
        signer.verify(token)


def test_a_short_secret_is_rejected() -> None:
    with pytest.raises(ValueError, match="16 characters"):
        SessionSigner("short", max_age=60)


# -- what a browser may send instead of a token ---------------------------------------------

def _forged(signer_secret: str, body: str) -> str:
    """A token whose MAC is right for ``body``, as only the key's holder could make it."""
    mac = hmac.new(signer_secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


@pytest.mark.parametrize("token", [
    _forged(SECRET, "v1.abc.²"),              # str.isdigit takes it, int() did not
    _forged(SECRET, "v1.abc." + "1" * 5000),  # int() refuses over 4300 digits
    "v1.abc.1700000000." + "é" * 64,          # compare_digest raised on non-ASCII
    "v1.abc.1700000000.\udcff",               # and on a lone surrogate
    "v1.a.b.c.d", "", "v1...", 5, None,
])
def test_malformed_tokens_are_unauthorized(token: object) -> None:
    with pytest.raises(Unauthorized, match="malformed"):
        SessionSigner(SECRET, max_age=60, now=lambda: 1000.0).verify(token)  # type: ignore[arg-type]


def test_only_session_ids_a_token_can_carry_are_issued() -> None:
    with pytest.raises(ValueError, match="session id"):
        SessionSigner(SECRET, max_age=60).issue("not.an.id")


@given(st.one_of(any_text, st.builds(lambda s, t, m: f"v1.{s}.{t}.{m}", any_text, any_text,
                                     any_text)))
def test_verify_answers_a_session_or_unauthorized(token: str) -> None:
    signer = SessionSigner(SECRET, max_age=60, now=lambda: 1000.0)
    try:
        session = signer.verify(token)
    except Unauthorized:
        return
    assert signer.issue(session.session_id)[1].session_id == session.session_id


@given(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1,
               max_size=64))
def test_every_issued_token_verifies(session_id: str) -> None:
    signer = SessionSigner(SECRET, max_age=60, now=lambda: 1000.0)
    token, session = signer.issue(session_id)
    assert signer.verify(token) == session
