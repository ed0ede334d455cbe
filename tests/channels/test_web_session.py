"""Session tokens: stable for their session, unforgeable, expiring."""

from __future__ import annotations

import pytest

from channels.errors import Unauthorized
from channels.web_session import SessionSigner

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
