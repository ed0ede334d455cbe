"""OrdersClient against the example bot's real demo orders service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.cli.bot_runtime import import_demo_runner
from integrations import BackendRejected, OrdersClient, OrdersSettings, SettingsError
from tests.conftest import REPO


@pytest.fixture(scope="module")
def orders() -> Iterator[OrdersClient]:
    service = import_demo_runner(REPO / "examples" / "support_bot").start_demo_service()
    with OrdersClient(OrdersSettings(url=service.url)) as client:
        yield client
    service.stop()


@pytest.mark.parametrize(("order_id", "status"), [
    ("ORD-55821", "shipped"), ("4471920", "processing"), ("AB1234567", "delivered"),
    ("88213", "cancelled")])
def test_each_status(orders: OrdersClient, order_id: str, status: str) -> None:
    order = orders.get_order(order_id)
    assert order is not None and (order.id, order.status) == (order_id, status)


def test_shipped_order_has_carrier_and_date(orders: OrdersClient) -> None:
    order = orders.get_order("ord-55821")       # ids are case-insensitive
    assert order is not None and (order.carrier, order.expected_delivery) == ("DHL", "2026-11-27")


def test_unknown_order_is_none(orders: OrdersClient) -> None:
    assert orders.get_order("ZZ-00000") is None


def test_refund_is_idempotent_per_key(orders: OrdersClient) -> None:
    first = orders.file_refund("AB1234567", "broken", idempotency_key="key-1")
    again = orders.file_refund("AB1234567", "broken", idempotency_key="key-1")
    other = orders.file_refund("AB1234567", "broken", idempotency_key="key-2")
    assert first == again and first.reference.startswith("RF-")
    assert other.reference != first.reference


def test_cancelled_order_cannot_be_refunded(orders: OrdersClient) -> None:
    with pytest.raises(BackendRejected) as caught:
        orders.file_refund("88213", "changed my mind", idempotency_key="key-3")
    assert caught.value.status == 409


@pytest.mark.parametrize("value", [None, "", "ftp://x", "localhost:8080"])
def test_bad_url_setting_names_the_variable(value: str | None) -> None:
    env = {} if value is None else {"PARLEY_ORDERS_URL": value}
    with pytest.raises(SettingsError, match="PARLEY_ORDERS_URL must be an http"):
        OrdersSettings.from_env(env)


def test_token_is_masked() -> None:
    settings = OrdersSettings.from_env({"PARLEY_ORDERS_URL": "http://127.0.0.1:1",
                                        "PARLEY_ORDERS_TOKEN": "t0ps3cret"})
    assert settings.token == "t0ps3cret" and "t0ps3cret" not in repr(settings)
