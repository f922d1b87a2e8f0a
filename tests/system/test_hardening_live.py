"""Issue 15 on live servers: a bad stored row, production defaults, TLS-proxy headers and CSP,
sign-in lockouts, the create throttle across processes, and signed webhooks."""

from __future__ import annotations

import re
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from standardwebhooks.webhooks import Webhook

from testkit.harness import OWNER, Deployment, sqlite_url, wait_until
from testkit.servers import WebServer, run_manage
from tests.conftest import WEBHOOK_SECRET

pytestmark = pytest.mark.system

PASSWORD = "pw"
SITE = "batchgen.example.edu"
# The production environment docs/deploy.md documents (with a real database and broker).
PRODUCTION_ENV = {
    "DEBUG": None,
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": SITE,
    "HTTPS_ONLY": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto,https",
    "CSRF_TRUSTED_ORIGINS": f"https://{SITE}",
    "BATCH_WEBHOOK_URL": "https://hooks.example.edu/batchgen",
    "BATCH_WEBHOOK_SECRET": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "API_TOKEN_TTL_S": "2592000",
}


def answers(server: WebServer) -> bool:
    """Return whether the server answers HTTP at all (a redirect to https counts)."""
    if not server.alive():
        raise RuntimeError(f"runserver exited:\n{server.log_text()[-4000:]}")
    try:
        httpx.get(server.url + "/accounts/login/", timeout=2)
    except httpx.TransportError:
        return False
    return True


@contextmanager
def web(deployment: Deployment, **env: str) -> Iterator[WebServer]:
    server = WebServer({**deployment.env, **env}).start()
    try:
        wait_until(lambda: answers(server), 60, f"runserver on {server.url}")
        yield server
    finally:
        server.stop(timeout=20)


def csrf_token(client: httpx.Client, path: str, **headers: str) -> str:
    page = client.get(path, headers=headers)
    assert page.status_code == 200, page.text[:500]
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def sign_in(
    client: httpx.Client, username: str, password: str, path: str = "/accounts/login/"
) -> httpx.Response:
    token = csrf_token(client, path)
    return client.post(
        path,
        data={"csrfmiddlewaretoken": token, "username": username, "password": password},
        headers={"Referer": str(client.base_url) + path},
    )


def api_token(base_url: str, username: str = OWNER, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(
        f"{base_url}/api/v1/auth/token/", json={"username": username, "password": password}
    )


# --- 1. a bad row already stored --------------------------------------------------------------

BAD_SCOPE = '{"topic": "Renal \\ud83d physiology", "course": "MED-201"}'


def ensure_superuser(deployment: Deployment, username: str) -> None:
    deployment.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model as g; U = g(); "
        f"U.objects.filter(username='{username}').exists() or "
        f"U.objects.create_superuser('{username}', 'op@example.edu', '{PASSWORD}')",
    )


def test_a_row_stored_behind_the_validators_back_never_breaks_a_list(deployment: Deployment):
    batch_id = deployment.create_batch("hardening bad row", 1)
    if deployment.database_url.startswith("sqlite"):
        # SQLite stores the JSON text as given: the lone surrogate's escape is in the row.
        deployment.sql(
            "UPDATE batches_batchjob SET scope = %s WHERE id = %s",
            (BAD_SCOPE, batch_id.replace("-", "")),
        )
        stored = deployment.sql(
            "SELECT scope FROM batches_batchjob WHERE id = %s", (batch_id.replace("-", ""),)
        )
        assert stored == [(BAD_SCOPE,)]
    else:
        # PostgreSQL's jsonb refuses the escape outright: no such row can exist there.
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            deployment.sql(
                "UPDATE batches_batchjob SET scope = %s::jsonb WHERE id = %s", (BAD_SCOPE, batch_id)
            )
    ensure_superuser(deployment, "hardening-op")
    with web(deployment) as server:
        with httpx.Client(base_url=server.url) as faculty:
            assert sign_in(faculty, OWNER, PASSWORD).status_code == 302
            page = faculty.get("/batches/")
            assert page.status_code == 200
            detail = faculty.get(f"/batches/{batch_id}/")
            assert detail.status_code == 200
        token = api_token(server.url).json()["data"]["token"]
        listing = httpx.get(
            f"{server.url}/api/v1/generation/batch/",
            headers={"Authorization": f"Token {token}"},
        )
        assert listing.status_code == 200
        topics = [b["scope"]["topic"] for b in listing.json()["data"] if b["id"] == batch_id]
        with httpx.Client(base_url=server.url) as operator:
            assert sign_in(operator, "hardening-op", PASSWORD, "/admin/login/").status_code == 302
            for model in ("batchjob", "batchitem", "batchevent"):
                assert operator.get(f"/admin/batches/{model}/").status_code == 200, model
            assert operator.get(f"/admin/batches/batchjob/{batch_id}/change/").status_code == 200
    if deployment.database_url.startswith("sqlite"):
        assert topics == ["Renal \ufffd physiology"]
        assert "Renal \ufffd physiology" in page.text


# --- 2. production defaults -------------------------------------------------------------------


def scratch_db() -> str:
    return sqlite_url(Path(tempfile.mkdtemp(prefix="batchgen-hardening-")))


def test_debug_is_off_unless_set():
    done = run_manage(
        {"DEBUG": None, "DATABASE_URL": scratch_db()},
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DEBUG)",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize(
    "key",
    [None, "", "short", "django-insecure-" + "x1y2z3" * 10],
    ids=["unset", "empty", "short", "django-insecure"],
)
def test_without_debug_the_app_refuses_to_start_without_a_real_secret_key(key):
    done = run_manage({"DEBUG": None, "SECRET_KEY": key, "DATABASE_URL": scratch_db()}, "check")
    assert done.returncode != 0
    assert "SECRET_KEY is missing or weak and DEBUG is off" in done.stderr


def test_with_debug_on_a_missing_secret_key_is_allowed_for_local_use():
    done = run_manage({"DEBUG": "1", "SECRET_KEY": None, "DATABASE_URL": scratch_db()}, "check")
    assert done.returncode == 0, done.stderr


def test_check_deploy_is_silent_under_the_documented_production_env():
    done = run_manage(
        {**PRODUCTION_ENV, "DATABASE_URL": scratch_db()},
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout
    assert "WARNING" not in done.stderr


def test_a_webhook_url_without_a_secret_warns_at_start_up():
    env = {"BATCH_WEBHOOK_URL": "http://127.0.0.1:9/hook", "BATCH_WEBHOOK_SECRET": None}
    done = run_manage({**env, "DATABASE_URL": scratch_db()}, "check")
    assert done.returncode == 0, done.stderr
    assert "BATCH_WEBHOOK_SECRET is not" in done.stderr
    signed = run_manage({**env, "BATCH_WEBHOOK_SECRET": "s", "DATABASE_URL": scratch_db()}, "check")
    assert "BATCH_WEBHOOK_SECRET is not" not in signed.stderr


PROXY_ENV = {
    "ALLOWED_HOSTS": f"{SITE},127.0.0.1",
    "HTTPS_ONLY": "1",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto,https",
    "CSRF_TRUSTED_ORIGINS": f"https://{SITE}",
}


def proxied_login(server: WebServer, proxied: bool) -> httpx.Response:
    """Sign in as a browser behind a TLS proxy would: https Origin and Referer, Host kept."""
    headers = {"Host": SITE, **({"X-Forwarded-Proto": "https"} if proxied else {})}
    with httpx.Client(base_url=server.url, headers=headers) as client:
        page = client.get("/accounts/login/")
        assert page.status_code == 200, page.status_code
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        # A Secure cookie is not sent over the proxy's plain-http hop by httpx: send it.
        cookie = page.headers["set-cookie"].split(";", 1)[0]
        return client.post(
            "/accounts/login/",
            data={"csrfmiddlewaretoken": token, "username": OWNER, "password": PASSWORD},
            headers={
                "Origin": f"https://{SITE}",
                "Referer": f"https://{SITE}/accounts/login/",
                "Cookie": cookie,
            },
        )


def test_behind_a_tls_proxy_the_site_is_https_only_and_accepts_its_https_posts(sqlite_deployment):
    with web(sqlite_deployment, **PROXY_ENV) as server:
        plain = httpx.get(f"{server.url}/accounts/login/", headers={"Host": SITE})
        assert plain.status_code == 301
        assert plain.headers["location"] == f"https://{SITE}/accounts/login/"
        secure = httpx.get(
            f"{server.url}/accounts/login/", headers={"Host": SITE, "X-Forwarded-Proto": "https"}
        )
        assert secure.status_code == 200
        assert secure.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        assert "secure" in secure.headers["set-cookie"].lower()
        assert secure.headers["x-frame-options"] == "DENY"
        login = proxied_login(server, proxied=True)
        assert login.status_code == 302, login.text[:500]
        assert login.headers["location"] == "/batches/"


def test_without_the_proxy_settings_an_https_origin_is_refused(sqlite_deployment):
    """What the issue observed: a POST with `Origin: https://...` refused behind a proxy."""
    with web(sqlite_deployment, ALLOWED_HOSTS=f"{SITE},127.0.0.1") as server:
        assert proxied_login(server, proxied=True).status_code == 403


def test_every_page_carries_a_content_security_policy_without_inline_scripts(live_web):
    for path in ("/accounts/login/", "/admin/login/", "/api/v1/docs/"):
        response = httpx.get(live_web.url + path)
        assert response.status_code == 200, path
        policy = dict(
            part.strip().split(" ", 1)
            for part in response.headers["content-security-policy"].split(";")
            if part.strip()
        )
        assert policy["script-src"] == "'self'", path
        assert policy["default-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'"
        assert "unsafe-eval" not in response.headers["content-security-policy"]


# --- 5. sign-in throttling --------------------------------------------------------------------


def wrong(client: httpx.Client, username: str, path: str = "/accounts/login/") -> httpx.Response:
    return sign_in(client, username, "wrong-password", path)


def test_sign_in_is_locked_per_username_and_per_address_until_an_operator_clears_it(
    sqlite_deployment,
):
    d = sqlite_deployment
    d.manage("createfaculty", "lockme", "--password", PASSWORD)
    try:
        with web(d, LOGIN_FAILURE_LIMIT="3") as server, httpx.Client(base_url=server.url) as c:
            # Per username: the third failure locks it; then even the right password is refused.
            assert [wrong(c, "lockme").status_code for _ in range(3)] == [200, 200, 429]
            locked = sign_in(c, "lockme", PASSWORD)
            assert locked.status_code == 429
            assert "Too many failed sign-ins" in locked.text
            api = api_token(server.url, "lockme")
            assert api.status_code == 429
            assert api.json()["error"]["code"] == "THROTTLED"
            assert int(api.headers["retry-after"]) > 0
            # The operator clears it; the right password works again.
            d.manage("axes_reset_username", "lockme")
            assert sign_in(c, "lockme", PASSWORD).status_code == 302
            c.cookies.clear()
            # Per address: failures for three different (made-up) usernames lock the address,
            # so another account, the admin login and the token endpoint are refused too.
            for name in ("guess-1", "guess-2", "guess-3"):
                wrong(c, name)
            assert sign_in(c, OWNER, PASSWORD).status_code == 429
            assert sign_in(c, OWNER, PASSWORD, "/admin/login/").status_code == 429
            assert api_token(server.url).status_code == 429
            assert "login failure" in server.log_text().lower()
    finally:
        d.manage("axes_reset")


def test_the_token_endpoint_locks_out_after_repeated_failures(sqlite_deployment):
    d = sqlite_deployment
    d.manage("createfaculty", "tokenlock", "--password", PASSWORD)
    try:
        with web(d, LOGIN_FAILURE_LIMIT="3") as server:
            codes = [api_token(server.url, "tokenlock", "nope").status_code for _ in range(4)]
            assert codes == [401, 401, 429, 429]
            assert api_token(server.url, "tokenlock").status_code == 429
    finally:
        d.manage("axes_reset")


# --- create throttle across processes -------------------------------------------------------


def test_the_create_throttle_holds_across_two_web_servers(deployment: Deployment):
    """Counted in the shared cache (the database's, or Redis): two processes, one limit."""
    rate = {"API_CREATE_RATE": "2/hour"}
    user = f"throttled-{deployment.name.split('+')[0]}"
    deployment.manage("createfaculty", user, "--password", PASSWORD)
    body = {"target_count": 1, "scope": {"topic": "throttle"}, "concurrency_limit": 1}
    with web(deployment, **rate) as first, web(deployment, **rate) as second:
        token = api_token(first.url, user).json()["data"]["token"]
        auth = {"Authorization": f"Token {token}"}
        url = "/api/v1/generation/batch/"
        assert httpx.post(first.url + url, json=body, headers=auth).status_code == 201
        assert httpx.post(second.url + url, json=body, headers=auth).status_code == 201
        third = httpx.post(first.url + url, json=body, headers=auth)
        assert third.status_code == 429
        assert third.json()["error"]["code"] == "THROTTLED"
        # The page form counts against the same limit.
        with httpx.Client(base_url=second.url) as page:
            assert sign_in(page, user, PASSWORD).status_code == 302
            token_field = csrf_token(page, "/batches/new/")
            form = page.post(
                "/batches/new/",
                data={
                    "csrfmiddlewaretoken": token_field,
                    "topic": "throttle",
                    "target_count": "1",
                },
                headers={"Referer": second.url + "/batches/new/"},
            )
            assert form.status_code == 429
            assert "too quickly" in form.text


# --- 4. signed webhooks, end to end ---------------------------------------------------------


def test_completion_webhooks_verify_with_the_standard_webhooks_reference(
    deployment: Deployment, webhook_receiver
):
    batch_id = deployment.create_batch("hardening webhook", 2)
    [received] = wait_until(
        lambda: webhook_receiver.for_batch(batch_id), 90, "the completion webhook"
    )
    payload = Webhook(WEBHOOK_SECRET.encode()).verify(received.body, received.headers)
    assert payload["batchId"] == batch_id
    assert payload["name"] == "generation/batch.completed"
