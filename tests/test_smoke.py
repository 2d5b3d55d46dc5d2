"""The app starts, the health check answers, and the demo district loads."""

from tests.conftest import login


def test_healthz_answers_ok(client):
    response = client.get("/api/v1/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "db": "ok"}


def test_staff_signs_in_and_sees_their_community(client, tree):
    login(client, tree.staff_a)
    page = client.get("/")
    assert page.status_code == 200
    assert "银融社区" in page.text
    assert "南湖社区" not in page.text
