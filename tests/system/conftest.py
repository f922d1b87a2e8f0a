"""System tests use the session deployments defined in tests/conftest.py."""

from __future__ import annotations

import pytest

from batches.states import ReviewStatus
from testkit.harness import Deployment

DEPLOYMENT_FIXTURES = ("deployment", "sqlite_deployment", "pg_redis_deployment")


@pytest.fixture(autouse=True)
def _empty_question_bank(request: pytest.FixtureRequest) -> None:
    """Start each system test with the institution's bank of approved questions empty.

    Every test's batches belong to one faculty member of one institution, and the stub writes
    the same questions for every batch: a question an earlier test (or browser test) approved
    would be a bank repeat here, an extra revision or a `duplicate` failure that depends on
    the order the tests run in. Tests of the bank approve what they need themselves.
    """
    for name in DEPLOYMENT_FIXTURES:
        if name in request.fixturenames:
            deployment: Deployment = request.getfixturevalue(name)
            deployment.sql(
                "UPDATE batches_batchitem SET review_status = %s WHERE review_status = %s "
                "RETURNING id",
                (ReviewStatus.UNREVIEWED.value, ReviewStatus.APPROVED.value),
            )
