"""The Django app: checks the configuration when Django starts, so that a setting it
cannot read stops the start instead of a request."""

from __future__ import annotations

from django.apps import AppConfig


class RedisRatelimitConfig(AppConfig):
    name = "redis_ratelimit.django"
    label = "redis_ratelimit"
    verbose_name = "redis-ratelimit"

    def ready(self) -> None:
        from . import check_configuration

        check_configuration()
