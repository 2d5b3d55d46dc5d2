"""Every page of the demo district passes the machine checks of tests/browser/audit.py: axe-core with no serious
or critical violation, no sideways scrolling at 320 and 375 px, tap targets of 44 px (60 px in 长辈版), and no
English word or internal key on a Chinese page; and no page escapes the crawl unless it says why."""

from __future__ import annotations

import pytest

from tests.browser import audit

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo(browser):
    """The demo district served, and the plan of who checks which page (one crawl per worker)."""
    with audit.demo_server() as (base_url, app, seeds):
        assigned, reached = audit.plan(browser, base_url, app, seeds)
        yield base_url, app, assigned, reached


@pytest.mark.parametrize(("mode", "width"), audit.CHECKED)
@pytest.mark.parametrize("persona", list(audit.PERSONAS))
def test_pages_pass_the_audit(demo, browser, persona, mode, width):
    base_url, _, assigned, _ = demo
    results = audit.check_persona(browser, base_url, audit.PERSONAS[persona], assigned[persona], mode, width)
    findings = [str(finding) for result in results for finding in result.findings]
    assert not findings, f"{len(findings)} findings on {len(results)} pages:\n" + "\n".join(findings)


def test_every_page_is_audited(demo):
    """A page no persona reaches would escape the audit: it is reached, or NOT_CRAWLED says why not."""
    _, app, assigned, reached = demo
    pages = audit.pages_to_check(app)
    missed = pages - reached - set(audit.NOT_CRAWLED)
    assert not missed, f"pages no persona's crawl reaches (link them, seed them, or add them to NOT_CRAWLED): {missed}"
    stale = set(audit.NOT_CRAWLED) - pages
    assert not stale, f"NOT_CRAWLED names endpoints that are not GET pages: {stale}"
    assert len([url for urls in assigned.values() for url in urls]) >= len(pages) - len(audit.NOT_CRAWLED)
