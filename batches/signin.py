"""Sign-in throttling: what a locked-out sign-in is answered with (django-axes does the rest).

django-axes counts failed sign-ins per username and per address in the database (so the count
holds across processes and machines), refuses a locked-out one before its password is even
checked, and logs every failure (logger `axes`). An operator clears a lockout by deleting the
row under "Access attempts" in the admin, or with `manage.py axes_reset_username USER`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from batches.api.envelope import failure

LOCKED_OUT = (
    "Too many failed sign-ins for this account or from this address. Try again later, or ask "
    "an operator to clear the lockout."
)


def client_address(request: HttpRequest) -> str | None:
    """Return the address sign-in failures are counted against.

    Behind TRUSTED_PROXY_COUNT proxies, each appends the address it saw to X-Forwarded-For,
    so the client is that many entries from the right; anything further left was written by
    the client and may be forged. Without proxies the header is ignored altogether.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [a for a in forwarded if a]
    if proxies and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


def retry_after_s() -> int:
    """Return how long a lockout lasts, in whole seconds."""
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    """Answer a locked-out sign-in: the API's 429 envelope, or the login page with a notice."""
    if request.path.startswith("/api/"):
        body = failure("THROTTLED", LOCKED_OUT, {"retryAfter": retry_after_s()})
        response: HttpResponse = JsonResponse(body, status=429)
    else:
        response = render(
            request, "registration/locked_out.html", {"message": LOCKED_OUT}, status=429
        )
    response["Retry-After"] = str(retry_after_s())
    return response
