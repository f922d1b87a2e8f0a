"""The one place that builds the chat model; tests swap it here and nowhere else."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from langchain_core.language_models import BaseChatModel

from generation.demo import DemoChatModel

logger = logging.getLogger(__name__)

DEMO_MODEL = "demo"

_lock = threading.Lock()
_model: BaseChatModel | None = None


def get_chat_model() -> BaseChatModel:
    """Return this process's chat model, building it on first use."""
    global _model
    with _lock:
        if _model is None:
            _model = build_chat_model()
        return _model


def warm_up() -> None:
    """Build this process's chat model now, so that the processes it forks inherit it.

    The first build in a process imports the provider client's HTTP stack and sets up its
    clients: about 120 ms, which a worker would otherwise spend inside its first item's slot
    (measured at the start of every batch that lands on a fresh worker). Built once in the
    cluster's parent, every worker shares it and its pages. A model that cannot be built here
    (a missing key, say) is left to fail each item as before, with the error on the item.
    """
    try:
        get_chat_model()
    except Exception as error:
        logger.warning("chat model not built ahead of the workers: %s", error)


def build_chat_model() -> BaseChatModel:
    """Build the model `settings.GENERATION_MODEL` names, with the shared rate limiter."""
    # Imported here, and never stubbed: a missing limiter must stop the worker, not let it
    # exceed the provider's limits.
    from generation import ratelimit

    rate_limiter = ratelimit.get_rate_limiter()
    if settings.GENERATION_MODEL == DEMO_MODEL:
        return DemoChatModel(rate_limiter=rate_limiter)
    # Imported only here: the provider's SDK takes about 2 s to import, which every
    # `manage.py` command and web process would pay without calling a model
    # (docs/engine-cost.md, "Start-up").
    from langchain.chat_models import init_chat_model
    from langchain_openai.chat_models.base import BaseChatOpenAI

    # max_retries=0: retries are ours, durable and counted against the item's attempts.
    model = init_chat_model(
        settings.GENERATION_MODEL,
        timeout=settings.GENERATION_TIMEOUT_S,
        max_retries=0,
        rate_limiter=rate_limiter,
    )
    if isinstance(model, BaseChatOpenAI):
        # Its x-ratelimit-remaining-* headers tighten the shared buckets (ratelimit.tighten).
        model.include_response_headers = True
    return model


def set_chat_model(model: BaseChatModel | None) -> None:
    """Make `model` this process's chat model; None rebuilds it from settings on next use."""
    global _model
    with _lock:
        _model = model


@contextmanager
def override_chat_model(model: BaseChatModel) -> Iterator[BaseChatModel]:
    """Use `model` as this process's chat model inside the block, then restore the previous one."""
    global _model
    with _lock:
        previous, _model = _model, model
    try:
        yield model
    finally:
        set_chat_model(previous)
