"""The brain: understanding (``brain.nlu``) and, in later issues, dialogue. Synchronous,
no network I/O except through ``integrations``; errors in ``brain.errors``."""
