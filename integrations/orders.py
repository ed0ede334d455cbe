"""``OrdersClient``: the shop's orders backend (the example bot's demo service speaks it).

    GET  /orders/{id}   → 200 order JSON | 404
    POST /refunds       {order_id, reason} + Idempotency-Key → 201/200 refund JSON | 404 | 409
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlparse

from integrations.base import ResilientClient
from integrations.errors import NotFound, SettingsError
from integrations.observer import BackendObserver
from integrations.policy import BreakerPolicy, RetryPolicy, Timeouts

__all__ = ["Order", "OrdersClient", "OrdersSettings", "Refund"]


@dataclass(frozen=True, slots=True)
class OrdersSettings:
    """``PARLEY_ORDERS_URL`` (required) and ``PARLEY_ORDERS_TOKEN`` (optional, secret)."""

    url: str
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OrdersSettings:
        env = os.environ if environ is None else environ
        url = env.get("PARLEY_ORDERS_URL", "").strip()
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise SettingsError("PARLEY_ORDERS_URL must be an http(s) URL such as "
                                "http://127.0.0.1:8081" + ("" if url else " (it is not set)"))
        return cls(url=url, token=env.get("PARLEY_ORDERS_TOKEN") or None)


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    status: str  # processing | shipped | delivered | cancelled
    carrier: str | None
    expected_delivery: str | None  # ISO date
    items: tuple[str, ...]
    total: float
    currency: str


@dataclass(frozen=True, slots=True)
class Refund:
    reference: str
    order_id: str
    status: str


class OrdersClient:
    """Typed calls to the orders backend through one ``ResilientClient``."""

    def __init__(self, settings: OrdersSettings, *, timeouts: Timeouts = Timeouts(),
                 retry: RetryPolicy = RetryPolicy(), breaker: BreakerPolicy = BreakerPolicy(),
                 cache_seconds: float = 5.0, observer: BackendObserver | None = None) -> None:
        self._http = ResilientClient(name="orders", base_url=settings.url,
                                     token=settings.token, timeouts=timeouts, retry=retry,
                                     breaker=breaker, cache_seconds=cache_seconds,
                                     observer=observer)

    def get_order(self, order_id: str) -> Order | None:
        """The order, or ``None`` if the backend does not know it."""
        try:
            data = self._http.get_json(f"/orders/{quote(order_id.strip(), safe='')}")
        except NotFound:
            return None
        return _order(data)

    def file_refund(self, order_id: str, reason: str, *, idempotency_key: str) -> Refund:
        """File a refund; the same key always yields the same refund, never a second one."""
        data = self._http.post_json("/refunds", {"order_id": order_id, "reason": reason},
                                    idempotency_key=idempotency_key)
        return Refund(reference=str(data["reference"]), order_id=str(data["order_id"]),
                      status=str(data["status"]))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OrdersClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _order(data: dict[str, Any]) -> Order:
    total = data.get("total", {})
    return Order(id=str(data["id"]), status=str(data["status"]), carrier=data.get("carrier"),
                 expected_delivery=data.get("expected_delivery"),
                 items=tuple(data.get("items", ())), total=float(total.get("amount", 0.0)),
                 currency=str(total.get("currency", "EUR")))
