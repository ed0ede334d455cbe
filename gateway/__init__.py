"""Parley's entry points: the ``parley`` command (``gateway.cli``); the aiohttp gateway
service comes with the pipeline issue."""
