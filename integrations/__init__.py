"""Resilient clients for the backends a bot's actions call (sync; used from workers).

    base.py     ResilientClient: timeouts, retries (tenacity), breaker (pybreaker), cache
    policy.py   Timeouts, RetryPolicy, BreakerPolicy
    observer.py BackendObserver: hears each call's outcome and the breaker's state
    errors.py   IntegrationError → BackendUnavailable | BackendRejected (→ NotFound) | SettingsError
    orders.py   OrdersClient for the shop's orders backend
"""

from integrations.base import ResilientClient
from integrations.errors import (
    BackendRejected,
    BackendUnavailable,
    IntegrationError,
    NotFound,
    SettingsError,
)
from integrations.observer import BackendObserver, BreakerState, CallOutcome
from integrations.orders import Order, OrdersClient, OrdersSettings, Refund
from integrations.policy import BreakerPolicy, RetryPolicy, Timeouts

__all__ = ["BackendObserver", "BackendRejected", "BackendUnavailable", "BreakerPolicy",
           "BreakerState", "CallOutcome", "IntegrationError", "NotFound", "Order",
           "OrdersClient", "OrdersSettings", "Refund", "ResilientClient", "RetryPolicy",
           "SettingsError", "Timeouts"]
