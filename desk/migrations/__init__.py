"""Alembic migrations of the desk's schema (``desk.schema``), run by ``desk.database.upgrade``
(``parley db upgrade``). A new revision: ``alembic.command.revision`` with a config whose
``script_location`` is this folder (``desk.database._alembic_config``), then write its
upgrade and downgrade by hand and test both on PostgreSQL and SQLite."""
