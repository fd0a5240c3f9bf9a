"""Failed-login limits hold across processes and restarts (DESIGN.md, trap 9): with Redis
configured, django-allauth counts failures in Django's cache on that Redis, so failures spread
over two real server processes add up, and a process started afterwards still refuses."""

import httpx
import pytest
from django.conf import settings

from tests.liveserver import DEMO_PASSWORD, attempt_login, start_daphne, start_servers

pytestmark = pytest.mark.e2e

TOO_MANY = "Too many failed login attempts"
# allauth counts per site and username, the site being the Host header without
# django.contrib.sites: behind the proxy every process sees the same public host.
PUBLIC_HOST = "localhost"


def failures_allowed_per_username() -> int:
    """The per-username part of allauth's `login_failed` limit in settings ("5/300s/key")."""
    rates = settings.ACCOUNT_RATE_LIMITS["login_failed"].split(",")
    return next(int(rate.split("/")[0]) for rate in rates if rate.endswith("/key"))


def test_failed_logins_spread_over_two_processes_are_refused_after_the_limit(
    scaled_config, tmp_path
):
    limit = failures_allowed_per_username()
    servers = start_servers(scaled_config, tmp_path, 2)
    try:
        with httpx.Client(timeout=10, follow_redirects=False) as client:
            for attempt in range(limit):  # alternately: neither process sees them all
                wrong = attempt_login(
                    client, servers[attempt % 2], "alice", "not-her-password", PUBLIC_HOST
                )
                assert wrong.status_code == 200 and TOO_MANY not in wrong.text, attempt
            # Counted per process, each would have seen about half and let this one in.
            for server in servers:
                refused = attempt_login(client, server, "alice", DEMO_PASSWORD, PUBLIC_HOST)
                assert refused.status_code == 200 and TOO_MANY in refused.text, server.url
            for server in servers:
                server.stop()
            restarted = start_daphne(scaled_config, tmp_path)
            servers.append(restarted)
            refused = attempt_login(client, restarted, "alice", DEMO_PASSWORD, PUBLIC_HOST)
            assert TOO_MANY in refused.text, "a restart forgot the failed logins"
            # Another user is not affected: the count is per username.
            assert (
                attempt_login(client, restarted, "bob", DEMO_PASSWORD, PUBLIC_HOST).status_code
                == 302
            )
    finally:
        for server in servers:
            server.stop()
