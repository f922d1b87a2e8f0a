"""Signals other apps may listen to."""

from django.dispatch import Signal

# Sent once per completion, after the transaction that completed the batch has committed.
# Arguments: batch_id (UUID), status (str), event_id (int).
batch_completed = Signal()
