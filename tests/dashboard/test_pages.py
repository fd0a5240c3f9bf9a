"""The dashboard page: staff only, linked from the site's and the admin's headers."""

import pytest
from django.test import AsyncClient

from tests.alert.conftest import logged_in
from tests.conftest import make_user
from tests.dashboard.conftest import make_staff

pytestmark = pytest.mark.django_db(transaction=True)


async def test_anonymous_users_are_sent_to_log_in():
    response = await AsyncClient().get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/dashboard/")


async def test_other_users_get_403_and_no_link():
    alice = await make_user("alice")
    client = await logged_in(alice)
    assert (await client.get("/dashboard/")).status_code == 403
    home = (await client.get("/")).content.decode()
    assert 'href="/dashboard/"' not in home


async def test_staff_get_the_charts_their_text_and_the_links():
    staff = await make_staff()
    client = await logged_in(staff)
    response = await client.get("/dashboard/")
    assert response.status_code == 200
    page = response.content.decode()
    for part in (
        'src="/static/vendor/chartjs/chart.umd.min.js"',
        '<script type="module" src="/static/dashboard/dashboard.js">',
        '<canvas id="activity-chart" role="img"',
        '<canvas id="alerts-chart" role="img"',
        'id="activity-summary"',
        '<td data-level="critical">',
        'id="rooms-table"',
    ):
        assert part in page, part
    assert 'href="/dashboard/">Dashboard</a>' in (await client.get("/")).content.decode()


async def test_the_admin_header_links_to_the_dashboard():
    staff = await make_staff()
    staff.is_superuser = True
    await staff.asave()
    client = await logged_in(staff)
    admin = (await client.get("/admin/")).content.decode()
    assert '<a href="/dashboard/">Operations dashboard</a>' in admin
    assert "Log out" in admin  # Django's own links are still there
