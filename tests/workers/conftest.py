"""The workers' tests that need Redis use a database of their own (``tests.processes``)."""

from tests.processes import clean_redis, redis_client  # noqa: F401
