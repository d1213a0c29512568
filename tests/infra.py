"""TEST_INFRA=containers: Postgres, Redis and Kafka from testcontainers (needs a Docker engine)."""

from __future__ import annotations

import atexit


def containers_env() -> dict[str, str]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    postgres = PostgresContainer("postgres:18", driver=None).start()
    redis = RedisContainer("redis:7").start()
    kafka = KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft().start()
    for container in (postgres, redis, kafka):
        atexit.register(container.stop)
    redis_host = redis.get_container_host_ip()
    return {
        "DATABASE_URL": postgres.get_connection_url(),
        "REDIS_URL": f"redis://{redis_host}:{redis.get_exposed_port(6379)}/0",
        "KAFKA_BOOTSTRAP_SERVERS": kafka.get_bootstrap_server(),
    }
