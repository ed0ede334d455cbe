from tests.processes import bot_model, clean_redis, redis_client  # noqa: F401
