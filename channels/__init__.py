"""Channels: the common event model (``channels.models``) and one adapter per platform
(verify, parse, render, send): ``web`` and ``webchat`` (the website, server to server and
browser), ``slack``, ``telegram`` and ``whatsapp`` (through Twilio)."""
