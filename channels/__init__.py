"""Channels: the common event model (``channels.models``), the channel errors
(``channels.errors``) and the form of identifiers (``channels.identifiers``), and one
package per platform (verify, parse, render, send): ``web`` (the website, server to server
and browser), ``slack``, ``telegram`` and ``whatsapp`` (through Twilio). Nothing here
imports ``gateway``: what a platform needs of the gateway is passed in."""
