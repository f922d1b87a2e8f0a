"""System tests use the session deployments defined in tests/conftest.py."""
