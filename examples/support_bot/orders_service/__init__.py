"""The example bot's demo orders backend: a small aiohttp app over a JSON data set.

It stands in for a shop's real order system so the example runs offline; the bot reaches
it only through ``integrations.orders.OrdersClient`` at ``PARLEY_ORDERS_URL``.
"""
