"""The WhatsApp adapter: signature checks, parsing Twilio's recorded payloads, and one send
attempt through the real SDK against the fake Messages API (errors classified)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from urllib.parse import urlencode

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.errors import BadRequest, PermanentSendError, TransientSendError, Unauthorized
from channels.identifiers import checked_inbound
from channels.models import Attachment, Button, OutboundMessage
from channels.whatsapp.adapter import SentMessage, StatusReport, WhatsAppAdapter, sign
from channels.whatsapp.client import retry_after_seconds, twilio_client
from tests.channels.strategies import forms, headers
from tests.fakes.twilio_api import ACCOUNT_SID, BUSINESS, PERSON, TwilioApiFake, recorded

TOKEN = "test-auth-token"
PUBLIC = "https://bot.example.test/channels/whatsapp"
TEMPLATE = "HX" + "b" * 32
CONVERSATION = f"whatsapp:{BUSINESS}:{PERSON}"


def _adapter(**options: object) -> WhatsAppAdapter:
    return WhatsAppAdapter(auth_token=TOKEN, from_number=BUSINESS, now=lambda: 1700.0,
                           **options)  # type: ignore[arg-type]


def _signed(body: bytes, url: str = PUBLIC, token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": sign(token, url, body)}


# --- verify -----------------------------------------------------------------------------

def test_sign_matches_the_example_in_twilios_security_documentation() -> None:
    body = urlencode({"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030",
                      "Digits": "1234", "From": "+12349013030", "To": "+18005551212"}).encode()
    assert sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2",
                body) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_a_request_signed_for_the_public_url_is_accepted() -> None:
    body = recorded("text_message")
    _adapter().verify(_signed(body), body, PUBLIC)
    # Twilio's signature may include the default port or not: both are accepted.
    _adapter().verify(_signed(body, "https://bot.example.test:443/channels/whatsapp"), body,
                      PUBLIC)


@pytest.mark.parametrize("case", ["wrong token", "internal url", "tampered", "missing",
                                  "blank field dropped"])
def test_forged_or_misdirected_signatures_are_refused(case: str) -> None:
    body = recorded("text_message")
    headers = _signed(body)
    if case == "wrong token":
        headers = _signed(body, token="an-old-token")
    elif case == "internal url":  # what the gateway sees behind the proxy is not signed
        headers = _signed(body, url="http://10.0.0.5:8080/channels/whatsapp")
    elif case == "tampered":
        body = recorded("text_message", Body="Transfer everything")
    elif case == "missing":
        headers = {}
    else:  # Twilio signs empty fields too (ReferralNumMedia=0 … ToCity=)
        body = recorded("sms_message")
        headers = _signed(body.replace(b"&ToCity=", b""))
    with pytest.raises(Unauthorized):
        _adapter().verify(headers, body, PUBLIC)


# --- parse ------------------------------------------------------------------------------

def test_a_text_message_becomes_one_inbound_message() -> None:
    [message] = _adapter().parse(recorded("text_message"))
    assert message.conversation_id == f"whatsapp:{BUSINESS}:{PERSON}"
    assert (message.channel, message.account, message.chat) == ("whatsapp", BUSINESS, PERSON)
    assert message.message_id == "SM1f0e7a5b9c3d4e2f8a6b0c1d2e3f4a5b"
    assert message.text == "When do you open?" and message.payload is None
    assert message.user_id == PERSON and message.received_at == 1700.0
    assert message.raw == {"MessageType": "text", "ProfileName": "Ada Lovelace",
                           "WaId": "15005550006", "NumMedia": "0"}


def test_media_become_attachments_with_their_content_types() -> None:
    [message] = _adapter().parse(recorded("media_message"))
    base = (f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/"
            "MM2a1b3c4d5e6f708192a3b4c5d6e7f809/Media/")
    assert message.attachments == (
        Attachment(url=base + "ME0a1b2c3d4e5f60718293a4b5c6d7e8f9", content_type="image/jpeg"),
        Attachment(url=base + "ME1b2c3d4e5f60718293a4b5c6d7e8f9a0",
                   content_type="application/pdf"))
    assert message.text == "Our menu and the booking"
    [captionless] = _adapter().parse(recorded("media_message", Body=""))
    assert captionless.text == "" and len(captionless.attachments) == 2


def test_a_template_quick_reply_arrives_as_its_payload() -> None:
    [message] = _adapter().parse(recorded("button_reply"))
    assert message.payload == "/affirm" and message.text == "Yes"


@pytest.mark.parametrize("name", ["location_message", "sms_message", "status_sent"])
def test_what_is_not_a_whatsapp_message_with_content_is_skipped(name: str) -> None:
    assert _adapter().parse(recorded(name)) == []


def test_a_message_to_another_number_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    body = recorded("text_message", To="whatsapp:+14155550100")
    with caplog.at_level(logging.WARNING, "parley.channels.whatsapp"):
        assert _adapter().parse(body) == []
    assert "not to PARLEY_WHATSAPP_FROM" in caplog.text


@pytest.mark.parametrize(("changes", "error"), [
    ({"MessageSid": ""}, "MessageSid"), ({"MessageSid": "SMnope"}, "MessageSid"),
    ({"NumMedia": "two"}, "NumMedia"), ({"NumMedia": "3"}, "MediaUrl2"),
    ({"From": "whatsapp:15005550006"}, "From")])
def test_malformed_messages_are_bad_requests(changes: dict[str, str], error: str) -> None:
    with pytest.raises(BadRequest, match=error):
        _adapter().parse(recorded("media_message", **changes))


def test_a_body_that_is_not_a_form_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        _adapter().parse(b"\xff\xfe not utf-8")


# --- status callbacks ---------------------------------------------------------------------

def test_status_callbacks_become_reports() -> None:
    sid = "SM6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c"
    read = _adapter().parse_status(recorded("status_read"))
    assert read == StatusReport(sid=sid, status="read", business=BUSINESS, person=PERSON)
    assert read.rank > StatusReport(sid=sid, status="delivered").rank
    failed = _adapter().parse_status(recorded("status_failed_63016"))
    assert failed is not None and failed.failed and failed.error_code == 63016
    undelivered = _adapter().parse_status(recorded("status_undelivered_63003"))
    assert undelivered is not None and undelivered.failed
    assert undelivered.error_code == 63003


def test_an_untracked_status_is_skipped_and_a_missing_sid_refused() -> None:
    assert _adapter().parse_status(recorded("status_sent", MessageStatus="receiving")) is None
    with pytest.raises(BadRequest):
        _adapter().parse_status(recorded("status_sent", MessageSid=""))


# --- send ---------------------------------------------------------------------------------

@pytest.fixture
def fake() -> Iterator[TwilioApiFake]:
    with TwilioApiFake(ACCOUNT_SID, TOKEN, BUSINESS) as server:
        yield server


def _reply(**changes: object) -> OutboundMessage:
    fields: dict[str, object] = {
        "conversation_id": CONVERSATION, "channel": "whatsapp", "in_reply_to": "SM1",
        "sequence": 4, "index": 0, "text": "A table for 2. Shall I book it?",
        "buttons": (Button(title="Yes", payload="/affirm"), Button(title="No",
                                                                    payload="/deny"))}
    fields.update(changes)
    return OutboundMessage(**fields)  # type: ignore[arg-type]


def _send(fake: TwilioApiFake, message: OutboundMessage, *, token: str = TOKEN,
          template: str | None = None) -> SentMessage:
    async def attempt() -> SentMessage:
        async with aiohttp.ClientSession() as session:
            client = twilio_client(ACCOUNT_SID, token, api_url=fake.url, session=session)
            adapter = _adapter(client=client, template_sid=template,
                               status_callback="https://bot.example.test/channels/whatsapp/"
                                               "status")
            return await adapter.send(message)
    return asyncio.run(attempt())


def test_a_reply_goes_to_the_messages_api_with_whatsapp_addresses(fake: TwilioApiFake) -> None:
    sent = _send(fake, _reply(image="https://cdn.example.test/table.png"))
    [call] = fake.messages
    assert sent == SentMessage(sid=call["Sid"])
    assert call["To"] == f"whatsapp:{PERSON}" and call["From"] == f"whatsapp:{BUSINESS}"
    assert call["Body"] == ("A table for 2. Shall I book it?\n\n1. Yes\n2. No\n\n"
                            "_Reply with the number or the name of your choice._")
    assert call["MediaUrl"] == ["https://cdn.example.test/table.png"]
    assert call["StatusCallback"] == "https://bot.example.test/channels/whatsapp/status"


@pytest.mark.parametrize(("status", "code", "retry_after"), [
    (429, 20429, "7"), (503, 20500, None), (500, 20500, "2")])
def test_rate_limits_and_server_errors_are_transient(
        fake: TwilioApiFake, status: int, code: int, retry_after: str | None) -> None:
    fake.fail_next(status, code, retry_after=retry_after)
    with pytest.raises(TransientSendError) as caught:
        _send(fake, _reply())
    assert caught.value.retry_after == (float(retry_after) if retry_after else None)
    assert f"Twilio answered {status}, error {code}" in str(caught.value)
    assert len(fake.arrivals) == 1  # the SDK did not retry on its own


def test_a_wrong_token_is_permanent_and_keeps_the_token_out_of_the_reason(
        fake: TwilioApiFake) -> None:
    with pytest.raises(PermanentSendError, match="401, error 20003") as caught:
        _send(fake, _reply(), token="wrong-token")
    assert "wrong-token" not in str(caught.value)


def test_an_unreachable_api_is_transient() -> None:
    with TwilioApiFake(ACCOUNT_SID, TOKEN, BUSINESS) as gone:
        pass  # stopped: nothing listens at its address any more
    with pytest.raises(TransientSendError, match="unreachable"):
        _send(gone, _reply())


def test_outside_the_window_the_template_is_sent_instead(fake: TwilioApiFake) -> None:
    fake.fail_next(400, 63016)
    sent = _send(fake, _reply(), template=TEMPLATE)
    [call] = fake.messages
    assert sent == SentMessage(sid=call["Sid"], template=TEMPLATE)
    assert call["ContentSid"] == TEMPLATE and "Body" not in call
    assert len(fake.arrivals) == 2


def test_outside_the_window_without_a_template_the_reason_is_permanent(
        fake: TwilioApiFake) -> None:
    fake.fail_next(400, 63016)
    with pytest.raises(PermanentSendError, match=r"63016.*PARLEY_WHATSAPP_TEMPLATE_SID"):
        _send(fake, _reply())
    fake.fail_next(400, 63016)
    with pytest.raises(PermanentSendError, match="the template itself"):
        _send(fake, _reply(template=TEMPLATE), template=TEMPLATE)
    assert fake.messages == []


def test_other_refusals_are_permanent(fake: TwilioApiFake) -> None:
    with pytest.raises(PermanentSendError, match="21617"):
        _send(fake, _reply(text="x" * 1700))
    with pytest.raises(PermanentSendError, match="no text, image or template"):
        _send(fake, _reply(text="", buttons=()))
    assert fake.messages == []


def test_retry_after_may_be_seconds_or_an_http_date() -> None:
    from datetime import UTC, datetime
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("Mon, 01 Jan 2024 12:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


# --- what an external fuzzer broke (each a 500 before) -------------------------------------

@pytest.mark.parametrize("count", ["²", "١", "9" * 5000, "1000", "-1", " 1"])
def test_a_media_count_that_is_not_a_small_ascii_number_is_a_bad_request(count: str) -> None:
    with pytest.raises(BadRequest, match="NumMedia"):
        _adapter().parse(recorded("media_message", NumMedia=count))


@pytest.mark.parametrize("code", ["²", "9" * 5000, "630 16", "-1"])
def test_an_error_code_that_is_not_an_ascii_number_is_a_bad_request(code: str) -> None:
    with pytest.raises(BadRequest, match="ErrorCode"):
        _adapter().parse_status(recorded("status_failed_63016", ErrorCode=code))


def test_an_empty_error_code_is_none() -> None:
    report = _adapter().parse_status(recorded("status_failed_63016", ErrorCode=""))
    assert report is not None and report.error_code is None


@pytest.mark.parametrize("url", [PUBLIC + "?a=\udcff", PUBLIC + "?\ud800"])
def test_a_url_the_sdk_cannot_encode_is_unauthorized(url: str) -> None:
    body = recorded("text_message")
    with pytest.raises(Unauthorized):
        _adapter().verify({"X-Twilio-Signature": "x"}, body, url)


# --- properties ---------------------------------------------------------------------------

NUMBER = st.sampled_from([f"whatsapp:{BUSINESS}", f"whatsapp:{PERSON}", "whatsapp:+1",
                          PERSON, "sms:+15005550006"])
FORM = forms({
    "MessageSid": st.sampled_from(["SM" + "a" * 32, "MM" + "0" * 32, "SMnope"]),
    "From": NUMBER, "To": NUMBER, "Body": st.text(max_size=20),
    "NumMedia": st.sampled_from(["0", "1", "2", "11", "²"]),
    "MediaUrl0": st.just("https://cdn.example.test/a.png"), "MediaUrl1": st.just(""),
    "ButtonPayload": st.sampled_from(["/affirm", ""]),
    "MessageStatus": st.sampled_from(["sent", "failed", "receiving", ""]),
    "ErrorCode": st.sampled_from(["", "63016", "²"]), "ErrorMessage": st.text(max_size=10)})


@given(FORM)
def test_parse_answers_messages_the_bus_can_carry_or_bad_request(body: bytes) -> None:
    try:
        messages = _adapter().parse(body)
    except BadRequest:
        return
    for message in messages:
        assert checked_inbound(message) == message


@given(FORM)
def test_parse_status_answers_a_report_none_or_bad_request(body: bytes) -> None:
    try:
        report = _adapter().parse_status(body)
    except BadRequest:
        return
    if report is not None:
        assert report.rank >= 0 and (report.error_code is None or report.error_code >= 0)


@given(FORM, st.sampled_from([PUBLIC, PUBLIC + "?x=1", PUBLIC + "?\udcff"]),
       headers({"X-Twilio-Signature": st.just("x")}))
def test_verify_answers_nothing_or_parleys_error(body: bytes, url: str,
                                                 given_headers: dict[str, str]) -> None:
    try:
        _adapter().verify(given_headers, body, url)
    except (Unauthorized, BadRequest):
        return
    assert given_headers["X-Twilio-Signature"] == sign(TOKEN, url, body)


@given(FORM)
def test_what_twilio_signs_is_verified(body: bytes) -> None:
    try:
        signature = sign(TOKEN, PUBLIC, body)
    except BadRequest:  # not a form: Twilio never signs one
        return
    _adapter().verify({"X-Twilio-Signature": signature}, body, PUBLIC)
