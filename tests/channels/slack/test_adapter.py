"""The Slack adapter on bolt and the SDK, against the fake Web API (no gateway, no Redis):
what bolt answers, what reaches ``accept``, and how ``send`` classifies Slack's answers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from slack_bolt.response import BoltResponse

from channels.errors import BadRequest, PermanentSendError, TransientSendError, Unavailable
from channels.models import Button, InboundMessage, OutboundMessage
from channels.slack.adapter import SlackAdapter, sign
from tests.conftest import FIXTURES
from tests.fakes.slack_api import FakeBot, FakeSlackApi

SECRET = "e2e-slack-signing-secret"
TEAM, OTHER_TEAM = "T0A1B2C3D", "T0OTHER99"
TOKEN, OTHER_TOKEN = "xoxb-111-parley", "xoxb-222-other"
Scenario = Callable[[SlackAdapter, list[InboundMessage]], Awaitable[Any]]


@pytest.fixture
def api() -> Iterator[FakeSlackApi]:
    bots = {TOKEN: FakeBot(TEAM), OTHER_TOKEN: FakeBot(OTHER_TEAM, "U0BOT0002", "B0BOT0002")}
    with FakeSlackApi(bots) as server:
        yield server


def run(api_url: str, scenario: Scenario, *, tokens: dict[str, str] | None = None,
        single: str | None = None, failing_accept: Exception | None = None) -> Any:
    async def main() -> Any:
        accepted: list[InboundMessage] = []

        async def accept(message: InboundMessage) -> int:
            if failing_accept is not None:
                raise failing_accept
            accepted.append(message)
            return len(accepted)

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            adapter = SlackAdapter(
                signing_secret=SECRET, bot_tokens={TEAM: TOKEN} if tokens is None else tokens,
                bot_token=single, listen_channels=frozenset({"C0LISTEN1"}), api_url=api_url,
                session=session, accept=accept)
            return await scenario(adapter, accepted)

    return asyncio.run(main())


Signed = tuple[dict[str, str], bytes]


def event(name: str, **changes: Any) -> Signed:
    body = json.loads((FIXTURES / "slack" / f"{name}.json").read_text())
    body.update(changes)
    return signed(json.dumps(body), "application/json")


def click(**container: Any) -> Signed:
    body = json.loads((FIXTURES / "slack" / "block_actions.json").read_text())
    body["container"].update(container)
    return signed("payload=" + quote(json.dumps(body)), "application/x-www-form-urlencoded")


def signed(body: str, content_type: str) -> Signed:
    stamp = str(int(time.time()))
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(SECRET, stamp, body)}, body.encode()


async def handle(adapter: SlackAdapter, request: Signed) -> BoltResponse:
    """What the gateway's route does: verify, parse, dispatch."""
    headers, body = request
    adapter.verify(headers, body)
    return await adapter.dispatch(adapter.parse(headers, body))


# -- in -------------------------------------------------------------------------------------

def test_url_verification_is_answered_with_the_challenge(api: FakeSlackApi) -> None:
    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> Any:
        return await handle(adapter, event("url_verification"))

    response = run(api.api_url, scenario)
    assert response.status == 200
    assert json.loads(response.body) == {
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert api.calls == []  # no workspace lookup for it


def test_messages_reach_accept_before_bolt_answers_and_the_bot_is_looked_up_once(
        api: FakeSlackApi) -> None:
    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> Any:
        statuses = []
        for name in ("message_im", "app_mention", "message_channel", "message_file_share"):
            response = await handle(adapter, event(name))
            statuses.append((response.status, len(accepted)))
        return statuses

    assert run(api.api_url, scenario) == [(200, 1), (200, 2), (200, 3), (200, 4)]
    assert api.count("auth.test") == 1


def test_the_bots_own_edits_joins_and_unknown_events_are_acknowledged_and_dropped(
        api: FakeSlackApi) -> None:
    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> Any:
        names = ("message_own_bot", "message_changed", "channel_join", "reaction_added")
        statuses = [(await handle(adapter, event(n))).status for n in names]
        return statuses, list(accepted)

    assert run(api.api_url, scenario) == ([200] * 4, [])


def test_a_button_click_is_acknowledged_after_it_is_accepted(api: FakeSlackApi) -> None:
    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> Any:
        response = await handle(adapter, click(thread_ts="1718000850.001000"))
        return response.status, response.body, list(accepted)

    status, body, accepted = run(api.api_url, scenario)
    assert (status, body) == (200, "")
    assert [(m.payload, m.chat) for m in accepted] == [("/affirm",
                                                        "D0DM00001:1718000850.001000")]


@pytest.mark.parametrize("payload", [
    {"type": "shortcut", "callback_id": "x", "team": {"id": TEAM}, "user": {"id": "U1"}},
    {"type": "view_submission", "team": {"id": TEAM}, "view": {"id": "V1"}},
    {"type": "block_suggestion", "team": {"id": TEAM}, "action_id": "a", "value": "x"},
])
def test_interactions_that_are_not_button_clicks_are_answered_200_and_skipped(
        api: FakeSlackApi, payload: dict[str, Any]) -> None:
    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> Any:
        body = "payload=" + quote(json.dumps(payload))
        response = await handle(adapter, signed(body, "application/x-www-form-urlencoded"))
        return response.status, list(accepted)

    assert run(api.api_url, scenario) == (200, [])  # bolt alone would answer 404
    assert api.calls == []


def test_slacks_rate_limit_notice_is_logged(api: FakeSlackApi,
                                            caplog: pytest.LogCaptureFixture) -> None:
    notice = {"token": "verification_token", "type": "app_rate_limited", "team_id": TEAM,
              "minute_rate_limited": 1718000040, "api_app_id": "A0PARLEY1"}

    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> Any:
        return (await handle(adapter, signed(json.dumps(notice), "application/json"))).status

    assert run(api.api_url, scenario) == 200
    assert "Slack dropped events of workspace T0A1B2C3D" in caplog.text


def test_a_workspace_without_a_token_is_ignored(api: FakeSlackApi) -> None:
    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> Any:
        request = event("message_im", team_id=OTHER_TEAM, authorizations=[
            {"enterprise_id": None, "team_id": OTHER_TEAM, "user_id": "U0BOT0002",
             "is_bot": True, "is_enterprise_install": False}])
        return (await handle(adapter, request)).status, list(accepted)

    assert run(api.api_url, scenario) == (200, [])
    assert api.calls == []


def test_each_workspace_uses_its_own_token(api: FakeSlackApi) -> None:
    other = {"team_id": OTHER_TEAM, "authorizations": [
        {"enterprise_id": None, "team_id": OTHER_TEAM, "user_id": "U0BOT0002", "is_bot": True,
         "is_enterprise_install": False}]}

    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> Any:
        await handle(adapter, event("message_im"))
        await handle(adapter, event("message_im", event_id="Ev0IM000002", **other))
        return [m.conversation_id for m in accepted]

    ids = run(api.api_url, scenario, tokens={TEAM: TOKEN, OTHER_TEAM: OTHER_TOKEN})
    assert ids == ["slack:T0A1B2C3D:D0DM00001", "slack:T0OTHER99:D0DM00001"]
    assert sorted(c.token for c in api.attempts("auth.test")) == sorted([TOKEN, OTHER_TOKEN])


def test_a_failing_accept_is_raised_not_turned_into_bolts_500(api: FakeSlackApi) -> None:
    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> Any:
        return await handle(adapter, event("message_im"))

    with pytest.raises(ConnectionError, match="redis down"):
        run(api.api_url, scenario, failing_accept=ConnectionError("redis down"))


def test_slack_unavailable_for_the_bot_lookup_is_transient(api: FakeSlackApi) -> None:
    api.fail_next(503, method="auth.test")

    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> Any:
        with pytest.raises(Unavailable):
            await handle(adapter, event("message_im"))
        response = await handle(adapter, event("message_im"))  # Slack's redelivery
        return response.status, len(accepted)

    assert run(api.api_url, scenario) == (200, 1)
    assert api.count("auth.test") == 2


def test_a_revoked_token_drops_the_request_and_says_which_workspace(
        api: FakeSlackApi, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> Any:
        return (await handle(adapter, event("message_im"))).status, list(accepted)

    assert run(api.api_url, scenario, tokens={TEAM: "xoxb-revoked"}) == (200, [])
    assert "T0A1B2C3D" in caplog.text and "xoxb-revoked" not in caplog.text


# -- out ------------------------------------------------------------------------------------

def reply(conversation: str = f"slack:{TEAM}:D0DM00001", **fields: Any) -> OutboundMessage:
    values: dict[str, Any] = {"text": "A table for 2.0 under Ada. Shall I book it?",
                              "buttons": (Button("Yes", "/affirm"), Button("No", "/deny"))}
    values.update(fields)
    return OutboundMessage(conversation_id=conversation, channel="slack", in_reply_to="Ev1",
                           sequence=1, index=0, **values)


def send(api_url: str, message: OutboundMessage, **options: Any) -> None:
    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> None:
        await adapter.send(message)

    run(api_url, scenario, **options)


def test_a_reply_is_posted_with_the_workspaces_token(api: FakeSlackApi) -> None:
    send(api.api_url, reply(f"slack:{TEAM}:C0GENERAL:1718000150.000300"))
    [post] = api.posts()
    assert post.token == TOKEN
    assert post.body["channel"] == "C0GENERAL" and post.body["thread_ts"] == "1718000150.000300"
    assert [e["value"] for e in post.body["blocks"][1]["elements"]] == ["/affirm", "/deny"]


def test_one_token_serves_any_workspace(api: FakeSlackApi) -> None:
    send(api.api_url, reply(f"slack:{OTHER_TEAM}:D0DM00001"), tokens={}, single=TOKEN)
    assert [p.token for p in api.posts()] == [TOKEN]


def test_a_429_is_transient_with_slacks_delay_and_is_not_retried_by_the_sdk(
        api: FakeSlackApi) -> None:
    api.fail_next(429, retry_after=7)
    with pytest.raises(TransientSendError) as caught:
        send(api.api_url, reply())
    assert caught.value.retry_after == 7.0 and "ratelimited" in str(caught.value)
    assert len(api.attempts()) == 1


def test_a_5xx_is_transient(api: FakeSlackApi) -> None:
    api.fail_next(503)
    with pytest.raises(TransientSendError, match="503") as caught:
        send(api.api_url, reply())
    assert caught.value.retry_after is None and len(api.attempts()) == 1


def test_an_unreachable_api_is_transient() -> None:
    with pytest.raises(TransientSendError, match="unreachable"):
        send("http://127.0.0.1:9/api/", reply())


def test_a_dropped_connection_is_transient_and_not_retried_by_the_sdk(
        api: FakeSlackApi) -> None:
    api.fail_next(0)  # the SDK's default handlers would try again at once
    with pytest.raises(TransientSendError, match="unreachable"):
        send(api.api_url, reply())
    assert len(api.attempts()) == 1 and api.posts() == []


@pytest.mark.parametrize(("options", "error"), [
    ({"tokens": {TEAM: "xoxb-unknown"}}, "invalid_auth"),
    ({"tokens": {}}, "no bot token for Slack workspace T0A1B2C3D"),
])
def test_refusals_are_permanent(api: FakeSlackApi, options: dict[str, Any], error: str) -> None:
    with pytest.raises(PermanentSendError, match=error):
        send(api.api_url, reply(), **options)
    assert api.posts() == []


def test_an_unknown_channel_is_permanent(api: FakeSlackApi) -> None:
    api.channels = {"C0GENERAL"}
    with pytest.raises(PermanentSendError, match="channel_not_found"):
        send(api.api_url, reply())


def test_a_reply_slack_cannot_show_is_permanent_without_a_call(api: FakeSlackApi) -> None:
    with pytest.raises(PermanentSendError, match="2000"):
        send(api.api_url, reply(buttons=(Button("Go", "/x" * 1001),)))
    assert api.calls == []


# -- requests that broke bolt (a 404 or a 500 before) ---------------------------------------

def test_an_event_callback_without_an_event_is_answered_200_and_skipped(
        api: FakeSlackApi) -> None:
    body = json.loads((FIXTURES / "slack" / "message_im.json").read_text())
    del body["event"]

    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> Any:
        response = await handle(adapter, signed(json.dumps(body), "application/json"))
        return response.status, list(accepted)

    assert run(api.api_url, scenario) == (200, [])  # bolt answered 404: Slack retried
    assert api.calls == []


def test_a_click_without_actions_is_answered_200_and_skipped(api: FakeSlackApi) -> None:
    body = json.loads((FIXTURES / "slack" / "block_actions.json").read_text())
    body["actions"] = []

    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> Any:
        response = await handle(adapter, signed("payload=" + quote(json.dumps(body)),
                                                "application/x-www-form-urlencoded"))
        return response.status, list(accepted)

    assert run(api.api_url, scenario) == (200, [])  # bolt raised IndexError: a 500


@pytest.mark.parametrize("changes", [{"event": []}, {"type": []},
                                     {"event": {"type": "message", "subtype": []}}])
def test_fields_of_the_wrong_type_are_bad_requests_before_bolt(
        api: FakeSlackApi, changes: dict[str, Any]) -> None:
    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> Any:
        with pytest.raises(BadRequest):
            await handle(adapter, event("message_im", **changes))
        return list(accepted)

    assert run(api.api_url, scenario) == []
    assert api.calls == []


def test_a_charset_nobody_knows_is_not_read(api: FakeSlackApi) -> None:
    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> Any:
        request = event("message_im")
        request[0]["Content-Type"] = "application/json; charset=nope-42"
        return (await handle(adapter, request)).status, len(accepted)

    assert run(api.api_url, scenario) == (200, 1)  # request.text() raised LookupError


def test_a_lone_surrogate_in_the_text_reaches_accept(api: FakeSlackApi) -> None:
    async def scenario(adapter: SlackAdapter, accepted: list[InboundMessage]) -> Any:
        body = json.loads((FIXTURES / "slack" / "message_im.json").read_text())
        raw = json.dumps(body).replace('"hello"', '"hello \\ud800"')
        await handle(adapter, signed(raw, "application/json"))
        return [m.text for m in accepted]

    assert run(api.api_url, scenario) == ["hello \ud800"]  # the ingress replaces it
