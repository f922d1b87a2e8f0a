import collections
import pytest
from batches.models import BatchItem
from batches.states import ItemStatus
from tests.integration.test_item_queries import run_batch_in_slots, stub_engine  # noqa

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("stub_engine")
def test_print_breakdown():
    counter, batch = run_batch_in_slots(40, 20)
    completed = BatchItem.objects.filter(batch=batch, status=ItemStatus.COMPLETED).count()
    print("\nBREAKDOWN", completed, counter.round_trips / completed)
    for k, v in counter.per_item(completed).items():
        print(f"  {k:20s} {v:.2f}")
    c = collections.Counter((k, s[:100]) for k, s in counter.statements)
    for (k, s), n in c.most_common(45):
        print(f"{n:4d} {k:16s} {s}")
