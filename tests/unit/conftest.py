from tests.unit.postgres_server import postgres_server

__all__ = ["postgres_server"]
