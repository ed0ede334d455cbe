"""The gateway against schemathesis: every documented operation fuzzed from
``/openapi.json`` (its examples, its coverage cases, random positive and negative data),
each case sent signed as the platform would sign it and again unsigned, against a real
``parley gateway`` process with Slack, Telegram and WhatsApp configured against the fake
platform servers and a real Redis.

Asserted by schemathesis's checks: no response is a 5xx (Redis is up: no 503 either), every
status, content type, header and body is the documented one, a 405 carries ``Allow``, a
request the document allows is not refused as malformed, and — on the routes that refuse
what they do not know (the website webhook, the browser chat's JSON) — a request the
document forbids is refused. The platform webhooks skip (200) what they do not take rather
than refuse it, so the last check is not theirs; the Slack interactions' form carries its
JSON in a string field no generator fills, so the document's promise about it is checked
by the unit tests instead.

Signing happens on the wire (``_SigningAdapter``): a case carries a marker in the
signature header, replaced by the real signature over the exact bytes sent. The probes of
schemathesis's ``ignored_auth`` check (no credentials, invalid credentials) bypass it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from requests.adapters import HTTPAdapter
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from channels import slack, web, whatsapp
from channels.errors import BadRequest
from tests.conftest import REPO
from tests.fakes.all_platforms import (
    PUBLIC,
    SLACK_SECRET,
    TELEGRAM_SECRET,
    TWILIO_TOKEN,
    WEB_SECRET,
    all_platforms,
)
from tests.processes import GatewayProcess

MARKER = "sign-me-on-the-wire"
SIGNED = {  # the credentials each operation is sent with (the marker: signed on the wire)
    "/channels/web/messages": {"X-Parley-Signature": MARKER},
    "/channels/slack/events": {"X-Slack-Signature": MARKER},
    "/channels/slack/interactions": {"X-Slack-Signature": MARKER},
    "/channels/telegram": {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
    "/channels/whatsapp": {"X-Twilio-Signature": MARKER},
    "/channels/whatsapp/status": {"X-Twilio-Signature": MARKER},
}
STRICT = {"/channels/web/messages", "/channels/web/session", "/channels/web/send",
          "/channels/web/poll"}  # refuse what the document does not allow
OPENAPI = REPO / "gateway" / "openapi.json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, missing_required_header,
          unsupported_method, ignored_auth]


def _body(request: requests.PreparedRequest) -> bytes:
    body = request.body or b""
    return body.encode() if isinstance(body, str) else body


def _fresh(value: str | None) -> bool:
    """A timestamp header the case means to be valid (a negative case's stays as it is)."""
    return value is not None and value.isascii() and value.isdigit() and len(value) <= 12


class _SigningAdapter(HTTPAdapter):
    """Replaces the marker with the signature the platform would send for these bytes."""

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        headers, body, stamp = request.headers, _body(request), str(int(time.time()))
        if headers.get("X-Parley-Signature") == MARKER:
            if headers.get("X-Parley-Timestamp") is None or _fresh(
                    headers.get("X-Parley-Timestamp")):
                headers["X-Parley-Timestamp"] = stamp
            headers["X-Parley-Signature"] = web.sign(WEB_SECRET, headers["X-Parley-Timestamp"],
                                                     body)
        if headers.get("X-Slack-Signature") == MARKER:
            if _fresh(headers.get("X-Slack-Request-Timestamp")):
                headers["X-Slack-Request-Timestamp"] = stamp
            timestamp = headers.get("X-Slack-Request-Timestamp", "")
            try:
                headers["X-Slack-Signature"] = slack.sign(SLACK_SECRET, timestamp, body)
            except UnicodeDecodeError:
                pass  # not UTF-8: Slack never sends it; the marker stays, a 400 or 401
        if headers.get("X-Twilio-Signature") == MARKER:
            try:
                headers["X-Twilio-Signature"] = whatsapp.sign(
                    TWILIO_TOKEN, PUBLIC + (request.path_url or "/"), body)
            except BadRequest:
                pass  # not a UTF-8 form: Twilio never sends it; the marker stays
        return super().send(request, *args, **kwargs)


@pytest.fixture(scope="module")
def gateway(redis_client: redis.Redis, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[GatewayProcess]:
    redis_client.flushdb()
    logs = tmp_path_factory.mktemp("fuzz")
    with all_platforms() as fakes:
        process = GatewayProcess(logs / "gateway.log", fakes.env)
        fakes.twilio.callback_target = process.url
        try:
            yield process
        finally:
            process.stop()
            redis_client.flushdb()


@pytest.fixture(scope="module")
def chat_token(gateway: GatewayProcess) -> str:
    """A real session token, so that some browser sends are accepted, not all 401."""
    answer = requests.post(f"{gateway.url}/channels/web/session", json={}, timeout=10)
    assert answer.status_code == 200
    return str(answer.json()["token"])


@pytest.fixture(scope="module")
def signing() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.mount("http://", _SigningAdapter())
        yield session


# The document the gateway serves (test_the_document_is_the_one_served), loaded when the
# tests are collected; the cases are sent to the gateway the module starts. (schemathesis's
# lazy ``from_fixture`` loader does not run under pytest 9.2: it writes ``Node._nodeid``.)
schema = schemathesis.openapi.from_path(OPENAPI, config=schemathesis.Config.from_dict({
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
               "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
    "generation": {"mode": "all"}}))


def test_the_document_is_the_one_served(gateway: GatewayProcess) -> None:
    served = requests.get(f"{gateway.url}/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.json() == json.loads(OPENAPI.read_text(encoding="utf-8"))


# The WebSocket is no request/response exchange (the webchat tests drive it).
@schema.exclude(path="/channels/web/ws").parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: schemathesis.Case,
                                               gateway: GatewayProcess, chat_token: str,
                                               signing: requests.Session) -> None:
    # /readyz answers 503 while no worker has loaded a bot (none runs here): documented.
    checks = [c for c in CHECKS if case.path != "/readyz" or c is not not_a_server_error]
    if case.path != "/channels/slack/interactions":
        checks.append(positive_data_acceptance)
    if case.path in STRICT:
        checks.append(negative_data_rejection)
    body = case.body
    if (case.path == "/channels/web/send" and isinstance(body, dict)
            and isinstance(body.get("token"), str) and len(body["token"]) % 2 == 0):
        body["token"] = chat_token  # half of them a browser's real session
    credentials = SIGNED.get(case.path)
    case.call_and_validate(base_url=gateway.url, session=signing, headers=credentials,
                           checks=checks, timeout=30)
    if credentials is not None:  # and as a stranger would send it
        case.call_and_validate(base_url=gateway.url, checks=checks, timeout=30)


def test_the_gateway_logged_no_traceback(gateway: GatewayProcess) -> None:
    log = Path(gateway.log).read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    assert json.loads(requests.get(f"{gateway.url}/readyz", timeout=5).text)["redis"]
