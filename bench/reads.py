"""Progress reads under load: concurrent pollers on the batch JSON and the progress page.

Only the standard library, so it runs in the benchmark's own process: log in (a token for the
API, a session for the pages), find which endpoints answer, then poll them from many threads
for a fixed time and report latency percentiles and errors per endpoint.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

from bench.stats import percentile

# htmx stops polling on 286; it is a successful read of a finished batch.
OK_STATUSES = {200, 286}


@dataclass
class Endpoint:
    name: str
    path: str
    headers: dict[str, str]


@dataclass
class Sample:
    endpoint: str
    seconds: float
    status: int | None


@dataclass
class Credentials:
    token: str | None = None
    session_cookie: str | None = None
    notes: list[str] = field(default_factory=list)


def log_in(base: str, username: str, password: str) -> Credentials:
    """Get an API token and a logged-in session cookie, whichever the server offers."""
    creds = Credentials()
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/auth/token/", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            creds.token = json.loads(response.read())["data"]["token"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        creds.notes.append(f"no API token ({error})")

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    try:
        with opener.open(f"{base}/accounts/login/", timeout=10) as response:
            form = response.read().decode()
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        data = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": csrf}
        ).encode()
        login = urllib.request.Request(
            f"{base}/accounts/login/", data=data, headers={"Referer": f"{base}/accounts/login/"}
        )
        with opener.open(login, timeout=10):
            pass
        cookies = {c.name: c.value for c in jar}
        if "sessionid" in cookies:
            creds.session_cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        else:
            creds.notes.append("login did not set a session")
    except (OSError, AttributeError) as error:
        creds.notes.append(f"no session ({error})")
    return creds


def candidate_endpoints(batch_id: str, creds: Credentials) -> list[Endpoint]:
    """Return the progress reads worth measuring, best first, given the credentials."""
    endpoints = []
    if creds.token:
        auth = {"Authorization": f"Token {creds.token}"}
        endpoints.append(Endpoint("api", f"/api/v1/generation/batch/{batch_id}/", auth))
    if creds.session_cookie:
        cookie = {"Cookie": creds.session_cookie}
        endpoints.append(Endpoint("page", f"/batches/{batch_id}/", cookie))
        endpoints.append(
            Endpoint("fragment", f"/batches/{batch_id}/", {**cookie, "HX-Request": "true"})
        )
        endpoints.append(Endpoint("list", "/batches/", cookie))
    return endpoints


def get(conn: http.client.HTTPConnection, endpoint: Endpoint) -> tuple[int, bool]:
    """GET the endpoint on a kept-alive connection; return (status, whether it closes)."""
    conn.request("GET", endpoint.path, headers=endpoint.headers)
    response = conn.getresponse()
    response.read()
    return response.status, response.will_close


def available(base: str, endpoints: list[Endpoint]) -> tuple[list[Endpoint], dict[str, int]]:
    """Return the endpoints that answer a read now, and every probe's status."""
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    statuses = {}
    for endpoint in endpoints:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            statuses[endpoint.name] = get(conn, endpoint)[0]
        except OSError:
            statuses[endpoint.name] = 0
        finally:
            conn.close()
    return [e for e in endpoints if statuses[e.name] in OK_STATUSES], statuses


def poll(
    base: str, endpoints: list[Endpoint], pollers: int, seconds: float, interval: float
) -> list[Sample]:
    """Run `pollers` threads, each reading one endpoint (round robin) until time is up.

    Each poller sends its next request `interval` seconds after the previous one started
    (at once if that one took longer); interval 0 means back to back.
    """
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    samples: list[Sample] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    start_gate = threading.Barrier(pollers)

    def poller(index: int) -> None:
        endpoint = endpoints[index % len(endpoints)]
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        mine = []
        start_gate.wait()
        # Spread the first requests of paced pollers over one interval.
        next_at = time.monotonic() + interval * index / pollers
        while (now := time.monotonic()) < deadline:
            if next_at > now:
                time.sleep(next_at - now)
            next_at = time.monotonic() + interval
            started = time.perf_counter()
            try:
                status, closes = get(conn, endpoint)
            except (OSError, http.client.HTTPException):
                # A kept-alive connection the server closed as we reused it (gunicorn closes
                # idle ones after 2 s, the page's own polling interval): a browser sends the
                # GET again on a new connection, and so does the poller, once.
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                try:
                    status, closes = get(conn, endpoint)
                except (OSError, http.client.HTTPException):
                    status, closes = None, True
            mine.append(Sample(endpoint.name, time.perf_counter() - started, status))
            if closes:
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.close()
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=poller, args=(i,), daemon=True) for i in range(pollers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return samples


def summarise(samples: list[Sample], seconds: float) -> dict[str, dict]:
    """Return per-endpoint (and overall) request count, rate, p50/p95/max in ms, errors."""
    groups: dict[str, list[Sample]] = {}
    for sample in samples:
        groups.setdefault(sample.endpoint, []).append(sample)
    groups["all"] = samples
    out = {}
    for name, group in groups.items():
        times = sorted(s.seconds * 1000 for s in group)
        out[name] = {
            "requests": len(group),
            "per_s": len(group) / seconds,
            "p50_ms": percentile(times, 50),
            "p95_ms": percentile(times, 95),
            "max_ms": times[-1] if times else None,
            "errors": sum(s.status not in OK_STATUSES for s in group),
            # What the errors were (None: no answer at all), so a figure can be judged.
            "error_statuses": dict(
                Counter(str(s.status) for s in group if s.status not in OK_STATUSES)
            ),
        }
    return out
