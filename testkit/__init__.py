"""What the tests and the benchmark share: throwaway PostgreSQL/Redis servers, the
OpenAI-compatible stub, the webhook receiver and the deployment harness (qcluster processes).

A package of its own so that `bench/` does not import from `tests/`.
"""
