"""The human side of Parley: accounts and roles, handoff queues, the agent console and API,
and the database of record with its migrations (``../shared/DESIGN.md``, "The human side").

``desk`` imports only ``channels.models`` and ``workers.bus`` from the rest of Parley; the
gateway mounts it. Modules are imported one by one (``desk.database``, ``desk.accounts``...):
this package module imports nothing, so loading ``desk.errors`` stays cheap for the CLI.
"""

__all__: list[str] = []
