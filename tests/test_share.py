"""Sharing and polish: Open Graph tags on the pages a shared link opens (public facts only), the favicon, and the
public check of a certificate's or an honour's number with a box and a clear 没有这个编号."""

from __future__ import annotations

import re
from datetime import date
from html import unescape
from urllib.parse import unquote

import pytest

from domain import certificates
from models import Area, Phase, User, db, mask_name
from tests.conftest import login
from tests.test_certificates import NOW, serve
from tests.test_event_pages import _create
from tests.test_honour_pages import campaign_at
from tests.test_rate_limits import limited_app  # noqa: F401 - a fixture

PHONE = re.compile(r"1\d{10}|\d{3}\*{4}\d{4}")


def _meta(page: str) -> dict[str, str]:
    """The page's <meta property|name=... content=...> tags, by property or name."""
    tags = {}
    for tag in re.findall(r"<meta\s[^>]*>", page):
        key = re.search(r'(?:property|name)="([^"]+)"', tag)
        content = re.search(r'content="([^"]*)"', tag)
        if key and content:
            tags[key[1]] = unescape(content[1])
    return tags


def _box(page: str) -> str:
    """The number box's <input> tag."""
    return next(tag for tag in re.findall(r"<input[^>]*>", page) if 'name="number"' in tag)


def _shared(tags: dict[str, str]) -> str:
    return " ".join(value for key, value in tags.items() if key.startswith(("og:", "twitter:")) or key == "description")


def test_an_event_page_carries_its_time_and_place_for_a_shared_link(app, client, tree):
    event = _create(app, tree, title="重阳节敬老包饺子", place="社区活动室")
    login(client, tree.volunteer_a)
    page = client.get(event.url).text
    tags = _meta(page)
    assert tags["og:title"] == "重阳节敬老包饺子"
    assert "社区活动室" in tags["og:description"] and re.search(r"\d{4}-\d\d-\d\d", tags["og:description"])
    assert tags["og:url"] == f"http://localhost{event.url}"
    assert tags["og:image"].startswith("http://localhost/static/img/share-card.png")
    assert tags["og:type"] == "website" and tags["description"] == tags["og:description"]
    assert page.count('name="description"') == 1
    shared = _shared(tags)
    for person in (tree.staff_a, tree.volunteer_a):
        assert person.name not in shared and person.phone not in shared
    assert not PHONE.search(shared)
    image = client.get(tags["og:image"].removeprefix("http://localhost"))
    image.close()
    assert image.status_code == 200 and image.mimetype == "image/png"


def test_an_event_link_opened_signed_out_shows_a_card_without_the_events_words(app, client, tree):
    """A chat's preview fetches the link without signing in: it lands on the sign-in page, whose card says an event
    waits there, and carries none of the event's own words (only its community may read them)."""
    event = _create(app, tree, title="重阳节敬老包饺子", place="社区活动室")
    answer = client.get(event.url, follow_redirects=True)
    assert answer.request.path == "/login"
    tags = _meta(answer.text)
    assert tags["og:title"] and tags["og:image"].startswith("http://localhost/static/img/share-card.png")
    assert tags["og:url"].startswith("http://localhost/login?next=") and event.url in unquote(tags["og:url"])
    shared = _shared(tags)
    assert "重阳节" not in shared and "社区活动室" not in shared and tree.staff_a.name not in shared
    # Any other page to go on to keeps the plain description.
    assert "og:title" not in _meta(client.get("/login?next=/me/points").text)


@pytest.mark.parametrize("phase", [Phase.notice, Phase.announced])
def test_a_public_notice_names_the_campaign_and_how_many_but_nobody(app, client, tree, make_user, phase):
    ids = campaign_at(app, tree, make_user, phase)
    page = client.get(f"{ids.url}/notice").text  # signed out: the notice is public
    tags = _meta(page)
    assert "2026年度社区好人" in tags["og:title"] and tags["og:type"] == "article"
    assert tags["og:url"].endswith(f"{ids.url}/notice") and tags["og:image"].startswith("http")
    assert "1" in tags["og:description"] and "银融社区" in tags["og:description"]
    shared = _shared(tags)
    for person in ids.people:
        assert person.name not in shared and mask_name(person.name) not in shared and person.phone not in shared
    assert not PHONE.search(shared)


def test_other_pages_carry_a_plain_description_and_the_icons(client):
    page = client.get("/login").text
    tags = _meta(page)
    assert tags["description"] and "og:title" not in tags
    assert 'rel="icon"' in page and "favicon.svg" in page and "apple-touch-icon.png" in page


def test_the_favicon_is_served_at_the_root_and_as_static_files(client):
    icon = client.get("/favicon.ico")
    data = icon.get_data()
    icon.close()
    assert icon.status_code == 200 and data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert icon.mimetype == "image/vnd.microsoft.icon" and "max-age" in icon.headers["Cache-Control"]
    svg = client.get("/static/favicon.svg")
    data = svg.get_data()
    svg.close()
    assert svg.status_code == 200 and b"<svg" in data
    touch = client.get("/static/apple-touch-icon.png")
    data = touch.get_data()
    touch.close()
    assert touch.status_code == 200 and data[:8] == b"\x89PNG\r\n\x1a\n"


# --- the public check by number ------------------------------------------------------------------------------------


@pytest.fixture
def certificate_number(app, tree):
    with app.app_context():
        volunteer, staff = db.session.get(User, tree.volunteer_a.id), db.session.get(User, tree.staff_a.id)
        community = db.session.get(Area, tree.a.community.id)
        serve(volunteer, community, staff, date(2026, 11, 18), 120)
        certificate = certificates.issue_certificate(volunteer, volunteer, community, period_from=date(2026, 11, 1),
                                                     period_to=date(2026, 11, 20), now=NOW)
        db.session.commit()
        return certificate.number


def test_the_certificate_check_starts_with_an_empty_box(client):
    page = client.get("/certificates/check")
    assert page.status_code == 200
    assert 'data-testid="check-form"' in page.text and 'data-testid="missing"' not in page.text
    assert 'maxlength="32"' in _box(page.text)


def test_a_certificate_found_by_the_box_shows_what_it_certifies_and_a_masked_name(client, tree, certificate_number):
    page = client.get("/certificates/check", query_string={"number": f" {certificate_number.lower()} "})
    assert page.status_code == 200 and 'data-testid="valid"' in page.text
    assert mask_name(tree.volunteer_a.name) in page.text and tree.volunteer_a.name not in page.text
    assert "2.0" in page.text or "2 " in page.text
    assert tree.volunteer_a.phone not in page.text


@pytest.mark.parametrize("url", ["/certificates/check?number=2026-0000000000", "/certificates/2026-0000000000"])
def test_a_wrong_certificate_number_says_no_such_number_and_keeps_it_in_the_box(client, url):
    page = client.get(url)
    assert page.status_code == 404
    assert 'data-testid="missing"' in page.text and "没有这个编号" in page.text
    assert "不在您负责的区域内" not in page.text
    assert 'value="2026-0000000000"' in _box(page.text)


@pytest.mark.parametrize("number", ["9" * 33, "   "])
def test_the_box_takes_no_more_than_a_number_can_be(client, number):
    page = client.get("/certificates/check", query_string={"number": number})
    assert page.status_code == 400 and 'data-testid="missing"' not in page.text
    assert 'aria-invalid="true"' in _box(page.text)


def test_the_check_is_rate_limited_as_the_public_check_is(limited_app):  # noqa: F811 - the imported fixture
    client = limited_app(CERTIFICATE_VERIFY_RATE_LIMIT="2 per minute").test_client()
    for path in ("/certificates/check?number=2026-0000000000", "/honours/check?number=RY2026-0000000000"):
        answers = [client.get(path).status_code for _ in range(3)]
        assert answers == [404, 404, 429]


def test_an_honour_found_or_not_by_the_box(app, client, tree, make_user):
    ids = campaign_at(app, tree, make_user, Phase.announced)
    found = client.get("/honours/check", query_string={"number": ids.number})
    assert found.status_code == 200 and 'data-testid="valid"' in found.text and "王**" in found.text
    assert 'data-testid="pdf"' not in found.text and "王秀英" not in found.text
    missing = client.get("/honours/check", query_string={"number": "RY2026-0000000000"})
    assert missing.status_code == 404 and "没有这个编号" in missing.text
    assert 'value="RY2026-0000000000"' in _box(missing.text)
    assert client.get("/honours/RY2026-0000000000").status_code == 404
    assert client.get("/honours/check").status_code == 200
    login(client, ids.people[0])  # the winner: their own certificate is offered
    assert 'data-testid="pdf"' in client.get(f"/honours/{ids.number}").text

