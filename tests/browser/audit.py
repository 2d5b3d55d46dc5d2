"""Machine checks of every page: axe-core, width, tap targets and untranslated text, over the demo district.

The demo district (domain/demo) is served on a throwaway SQLite file and crawled once per persona,
breadth-first from the home page over same-origin GET links, one or two pages per Flask endpoint
(so each kind of page is looked at, not every id). Each page found is then checked in Chromium, in the
standard mode and in 长辈版 (the cookie `elder=1`), at 320, 375 and 1,366 px:

- axe-core (vendored, tests/browser/vendor/): no violation of impact serious or critical, at every width;
- at 320 and 375 px: the document is no wider than the screen, and every visible interactive element is
  at least 44×44 CSS px (WCAG 2.5.5; 60×60 when `<html class="elder">`, as 工信部 适老化 asks); a link
  inside a sentence is exempt, as WCAG 2.5.8 allows (its block has visible text outside the link, on the
  link's own line);
- at 375 px, on a Chinese page: no visible English word or internal key (`market.fen_per_point`).

Shared by tests/browser/test_audit.py (which fails on any finding) and tests/browser/audit_report.py
(which counts them, for the note of a change).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page
from werkzeug.exceptions import HTTPException

from domain import demo
from models import db
from tests.browser import serve

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"

#: Who crawls: the demo logins of the README (None: signed out).
PERSONAS = {
    "signed-out": None,
    "volunteer": "13700000001",
    "unit-head": "13900010002",
    "grid-head": "13900010000",
    "community-staff": "13800000101",
    "street-staff": "13800000201",
    "admin": "13800000000",
}
MODES = ("standard", "elder")
WIDTHS = (320, 375, 1366)
#: Widths of a phone: the width and tap-target checks run there (a desktop has a mouse and room).
PHONE_WIDTHS = (320, 375)
#: What the test run checks: the standard pages at every width; 长辈版, made for older people's own phones, at the
#: phone widths (its desktop view adds nothing a phone's does not check, and a run of its own costs CI minutes).
CHECKED = tuple((mode, width) for mode in MODES for width in WIDTHS if mode == "standard" or width in PHONE_WIDTHS)
#: The width at which the text of a Chinese page is read for English words and internal keys.
TEXT_WIDTH = 375
#: Pages looked at per Flask endpoint and persona: a second one catches a page that differs by its object
#: (a community and a unit are both org.area).
PER_ENDPOINT = 2
#: A crawl that finds more than this many pages has found a loop, not pages.
MAX_PAGES = 120

#: Links never followed: downloads and images, the API, static files.
DOWNLOADS = (".xlsx", ".pdf", ".csv", ".png", ".json", ".svg", ".jpg", ".jpeg")
NOT_FOLLOWED_PREFIXES = ("/api/", "/static/", "/bench")

#: GET endpoints that are not crawled, with the reason. Every other GET endpoint that is not a download must
#: be reached by some persona's crawl (test_audit.py checks it), so a new page cannot escape the audit.
NOT_CRAWLED = {
    "certificates.pdf": "a PDF download",
    "honours.pdf": "a PDF download",
    "market.reward_photo": "an image",
    "tasks.photo": "an image",
    "honours.photo": "an image",
    "events.checkin": "the landing page of a rotating QR code: its link lives 60 s and is never on a page",
    "market.pickup": "reached by scanning a pickup code at the counter, never by a link",
    "roster.progress": "lives only while a roster import runs in the background (tests/browser/test_roster.py)",
    "share.favicon": "an image",
    "people.households": "JSON for the household picker's script on 添加人员",
}

#: Latin words that are at home in a Chinese page (case does not matter).
LATIN_ALLOWED = {
    "qr", "pdf", "excel", "xlsx", "csv", "id", "api", "wechat", "sms", "url", "json", "app", "wifi", "ok",
    "english", "http", "https", "ios", "android", "iphone", "vip", "logo", "gps", "svg", "png", "jpg", "jpeg",
    "webp", "gif", "utf", "gbk",
}


@dataclass
class Finding:
    """One thing wrong on one page: `check` is axe, width, target or text."""

    check: str
    url: str
    mode: str
    width: int
    detail: str
    rule: str = ""
    impact: str = ""
    size: tuple[float, float] | None = None

    def __str__(self) -> str:
        check = f"{self.check}:{self.rule}" if self.rule else self.check
        return f"[{check}] {self.mode} {self.width}px {self.url}: {self.detail}"


@dataclass
class PageResult:
    url: str
    mode: str
    width: int
    findings: list[Finding] = field(default_factory=list)
    #: Every axe violation with its impact (all impacts, for the report).
    axe_all: list[tuple[str, str, int]] = field(default_factory=list)
    #: (width, height, selector) of every target under the mode's minimum.
    small_targets: list[tuple[float, float, str]] = field(default_factory=list)
    #: (width, height, selector) of the page's smallest target held to a minimum, if it has any.
    smallest: tuple[float, float, str] | None = None
    overflow: int = 0
    #: Whether the page was drawn in 长辈版 (`<html class="elder">`): its targets are then held to 60 px.
    elder: bool = False


# ---- serving the demo district ----

@contextlib.contextmanager
def demo_server() -> Iterator[tuple[str, Flask, dict[str, list[str]]]]:
    """The demo district on a throwaway SQLite file, served on a local port.

    Yields (base URL, app, seeds): seeds are pages per persona that no link leads to."""
    from tests.browser.screenshots import demo_app

    with tempfile.TemporaryDirectory(prefix="sanzhang-audit-") as folder:
        app = demo_app(Path(folder))
        with app.app_context():
            seeds = _beyond_the_demo()
            db.session.commit()
            db.session.remove()
        try:
            with serve(app) as base_url:
                yield base_url, app, seeds
        finally:
            with app.app_context():
                db.engine.dispose()


def _beyond_the_demo() -> dict[str, list[str]]:
    """What the demo lacks for the audit: a service certificate (its page and its document, linked from
    我的证明), a campaign taking nominations for a week (the demo's closes minutes after seeding), and the page
    shown after recording service (reached by a form's redirect)."""
    from datetime import timedelta

    from sqlalchemy import select

    from domain.certificates import issue_certificate
    from domain.honours import CampaignForm, open_campaign
    from models import Reward, ServiceRecord, User, utcnow

    now = utcnow()
    volunteer = db.session.scalar(select(User).where(User.phone == PERSONAS["volunteer"]))
    records = list(db.session.scalars(select(ServiceRecord).where(ServiceRecord.recorder_id == volunteer.id)))
    approved = [r for r in records if r.status == "approved"]
    if approved:
        community = approved[0].community
        issue_certificate(volunteer, volunteer, community, period_from=now.date() - timedelta(days=365),
                          period_to=now.date())
        staff = db.session.scalar(select(User).where(User.phone == PERSONAS["community-staff"]))
        day = timedelta(days=1)
        open_campaign(staff, community, CampaignForm(
            kind="good_neighbour", title="邻里互助之星", seats=3, nominate_from=now - day,
            nominate_until=now + 7 * day, vote_from=now + 7 * day, vote_until=now + 14 * day,
            review_until=now + 17 * day), now=now - 2 * day)
    ids = ",".join(str(r.id) for r in records[:3])
    # The confirmation before a redemption is the answer to the reward page's GET form, not a link.
    reward = db.session.scalar(select(Reward).where(Reward.community_id == approved[0].community_id)
                               .order_by(Reward.id).limit(1)) if approved else None
    volunteer_pages = [f"/service/recorded?ids={ids}"] if ids else []
    if reward is not None:
        volunteer_pages.append(f"/market/rewards/{reward.id}/confirm?quantity=1")
    # The public number checks, typed into by someone holding a certificate, linked from no page of the demo.
    return {"volunteer": volunteer_pages, "signed-out": ["/certificates/check", "/honours/check"],
            "community-staff": _webhook_log(now)}


def _webhook_log(now) -> list[str]:
    """Webhooks out (issue 20): the community staff's endpoint with a delivery log of each status (the demo has
    none: a demo that sent events to an address nobody answers would retry them for hours)."""
    from datetime import timedelta

    from sqlalchemy import select

    from domain import webhooks
    from models import DeliveryStatus, User, WebhookDelivery

    staff = db.session.scalar(select(User).where(User.phone == PERSONAS["community-staff"]))
    community = next(g.area for g in staff.grants if g.area is not None)
    endpoint, _secret = webhooks.create_endpoint(staff, community, url="https://grid.example.cn/sanzhang/hooks",
                                                 events=list(webhooks.EVENTS), now=now - timedelta(days=2))
    outcomes = [dict(status=DeliveryStatus.delivered, attempts=1, last_status_code=200,
                     delivered_at=now - timedelta(hours=3)),
                dict(status=DeliveryStatus.failed, attempts=8, last_status_code=500,
                     last_error="HTTP 500 Internal Server Error: upstream grid service unavailable"),
                dict(status=DeliveryStatus.pending, attempts=2, next_attempt_at=now + timedelta(minutes=4),
                     last_error="ConnectTimeout: HTTPSConnectionPool(host='grid.example.cn', port=443)")]
    kinds = ("need.posted", "redemption.created", "service.approved")
    for n, (kind, outcome) in enumerate(zip(kinds, outcomes, strict=True)):
        webhooks.emit(kind, community, {"task_id": 100 + n, "title": "楼道灯坏了", "category": "repairs"},
                      now=now - timedelta(hours=3 - n))
        delivery = db.session.scalar(select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(1))
        for name, value in outcome.items():
            setattr(delivery, name, value)
    db.session.flush()
    return [f"/webhooks/{endpoint.id}/deliveries"]


def new_context(browser: Browser, base_url: str, mode: str, width: int) -> BrowserContext:
    phone = width < 1000
    context = browser.new_context(base_url=base_url, locale="zh-CN",
                                  viewport={"width": width, "height": 740 if phone else 800},
                                  is_mobile=phone, has_touch=phone,
                                  # axe is injected as an inline script, which the app's CSP refuses.
                                  bypass_csp=True)
    context.set_default_timeout(20_000)
    if mode == "elder":
        context.add_cookies([{"name": "elder", "value": "1", "url": base_url}])
    return context


def sign_in(page: Page, phone: str | None) -> None:
    if phone is None:
        return
    page.goto("/login")
    page.locator("input[name=phone]").fill(phone)
    page.locator("input[name=password]").fill(demo.DEMO_PASSWORD)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    if urlsplit(page.url).path == "/login":
        raise AssertionError(f"the demo login {phone} could not sign in")


# ---- the crawl ----

class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def endpoint_of(app: Flask, path: str) -> str | None:
    """The Flask endpoint that answers GET `path`, or None."""
    try:
        endpoint, _ = app.url_map.bind("localhost").match(path, method="GET")
    except HTTPException:
        return None
    return endpoint


def followed(path: str) -> bool:
    return not path.startswith(NOT_FOLLOWED_PREFIXES) and not path.lower().endswith(DOWNLOADS)


@dataclass
class Crawl:
    """One persona's crawl: the pages found ({url: endpoint}, in the order found) and every endpoint reached,
    a redirect's too."""

    pages: dict[str, str] = field(default_factory=dict)
    reached: set[str] = field(default_factory=set)


def crawl(browser: Browser, base_url: str, app: Flask, phone: str | None, seeds: list[str] = ()) -> Crawl:
    """Breadth-first from home (and `seeds`) over same-origin GET links, at most PER_ENDPOINT per endpoint.

    The pages are fetched without drawing them (the context's request client shares its cookies)."""
    context = new_context(browser, base_url, "standard", 375)
    try:
        sign_in(context.new_page(), phone)
        origin = urlsplit(base_url)
        per_endpoint: dict[str, int] = {}
        result = Crawl()
        queue = deque(["/", "/login", *seeds])
        queued = set(queue)
        while queue and len(result.pages) < MAX_PAGES:
            asked = queue.popleft()
            response = context.request.get(asked)
            final = urlsplit(response.url)
            url = final.path + (f"?{final.query}" if final.query else "")
            endpoint = endpoint_of(app, final.path)
            if not response.ok or "text/html" not in response.headers.get("content-type", ""):
                continue
            if endpoint != "auth.login":  # sent to sign in: the page asked for was not seen
                result.reached.add(endpoint_of(app, urlsplit(asked).path))
            if url in result.pages or list(result.pages.values()).count(endpoint) >= PER_ENDPOINT:
                continue
            result.pages[url] = endpoint
            result.reached.add(endpoint)
            parser = _Links()
            parser.feed(response.text())
            for href in parser.hrefs:
                target = urlsplit(urljoin(response.url, href))
                if target.scheme not in ("http", "https") or target.netloc != origin.netloc:
                    continue
                link = target.path + (f"?{target.query}" if target.query else "")
                endpoint = endpoint_of(app, target.path)
                if (not followed(target.path) or link in queued or endpoint is None
                        or per_endpoint.get(endpoint, 0) >= PER_ENDPOINT):
                    continue
                per_endpoint[endpoint] = per_endpoint.get(endpoint, 0) + 1
                queued.add(link)
                queue.append(link)
        return result
    finally:
        context.close()


def plan(browser: Browser, base_url: str, app: Flask,
         seeds: dict[str, list[str]]) -> tuple[dict[str, list[str]], set[str]]:
    """Which persona checks which pages: ({persona: [url]}, every endpoint reached).

    Every persona crawls; each endpoint is then checked once, by the first persona that found it (signed out
    first: a public page is checked as the public sees it), and every persona's home page is checked. Checking
    every persona's copy of every page would take the whole CI's time for little more."""
    crawls = {name: crawl(browser, base_url, app, phone, seeds.get(name, ()))
              for name, phone in PERSONAS.items() if phone is not None}
    # Public pages found by someone signed in are public pages: the signed-out persona takes them.
    found: dict[str, list[str]] = {}
    for result in crawls.values():
        for url, endpoint in result.pages.items():
            if len(found.setdefault(endpoint, [])) < PER_ENDPOINT:
                found[endpoint].append(url)
    public = crawl(browser, base_url, app, None,
                   [*seeds.get("signed-out", ()), *(url for urls in found.values() for url in urls)])
    crawls = {"signed-out": public, **crawls}
    assigned: dict[str, list[str]] = {name: [] for name in PERSONAS}
    taken: set[str] = set()
    for name, result in crawls.items():
        for url, endpoint in result.pages.items():
            if endpoint == "home.index" or endpoint not in taken:
                assigned[name].append(url)
                taken.add(endpoint)
    reached = set().union(*(c.reached for c in crawls.values()))
    return assigned, reached


def pages_to_check(app: Flask) -> set[str]:
    """Every GET endpoint that answers with a page: not a download, not the API, not static, not bench."""
    endpoints = set()
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and followed(rule.rule) and rule.endpoint != "static":
            endpoints.add(rule.endpoint)
    return endpoints


# ---- the checks ----

#: Runs in the page: the sideways overflow, the targets under `min`, and (on a Chinese page) English words
#: and internal keys in the visible text.
PAGE_CHECKS = r"""
({readText, allowed}) => {
  const min = document.documentElement.classList.contains('elder') ? 60 : 44;
  const INTERACTIVE = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button]';
  const visible = el => el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
  const describe = el => {
    const parts = [];
    for (let node = el; node && node !== document.body && parts.length < 3; node = node.parentElement) {
      let part = node.tagName.toLowerCase();
      if (node.id) { parts.unshift(part + '#' + node.id); break; }
      const cls = [...node.classList].slice(0, 2).join('.');
      if (cls) part += '.' + cls;
      parts.unshift(part);
    }
    const text = (el.innerText || el.value || el.getAttribute('aria-label') || el.name || '')
      .trim().replace(/\s+/g, ' ');
    return parts.join(' > ') + (text ? ` "${text.slice(0, 24)}"` : '');
  };
  const isBlock = el => !['inline', 'contents'].includes(getComputedStyle(el).display);
  // A link inside a sentence: the link is inline and its block has visible words outside any target on the
  // link's own line(s).
  const inSentence = a => {
    if (getComputedStyle(a).display !== 'inline') return false;
    let block = a.parentElement;
    while (block && !isBlock(block)) block = block.parentElement;
    if (!block) return false;
    const own = a.getBoundingClientRect();
    const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!/[\p{L}\p{N}]{2,}/u.test(node.data)) continue;
      const parent = node.parentElement;
      if (parent.closest(INTERACTIVE) || !visible(parent)) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) {
        if (r.bottom > own.top + 1 && r.top < own.bottom - 1) return true;
      }
    }
    return false;
  };
  const targetBox = el => {
    const box = el.getBoundingClientRect();
    let w = box.width, h = box.height;
    if (el.matches('input[type=checkbox], input[type=radio]')) {
      const label = el.closest('label') || (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`));
      if (label) { const l = label.getBoundingClientRect(); w = Math.max(w, l.width); h = Math.max(h, l.height); }
    }
    return [Math.round(w * 10) / 10, Math.round(h * 10) / 10];
  };

  const small = [];
  let smallest = null;  // the smallest target held to the minimum, passing or not (for the report)
  for (const el of document.querySelectorAll(INTERACTIVE)) {
    if (!visible(el)) continue;
    const box = el.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue;  // visually hidden until focused (a skip link)
    if (el.matches('a') && inSentence(el)) continue;
    const [w, h] = targetBox(el);
    if (!smallest || Math.min(w, h) < Math.min(smallest[0], smallest[1])) smallest = [w, h, describe(el)];
    if (w >= min && h >= min) continue;
    small.push([w, h, describe(el)]);
  }

  // Text meant to be read in Chinese: not code, not marked as another language or as not to be translated.
  const chinese = el => {
    if (el.closest('script, style, noscript, template, code, kbd, samp, [translate=no]')) return false;
    const lang = el.closest('[lang]');
    return !lang || lang.lang.startsWith('zh');
  };
  const words = [];
  if (readText && document.documentElement.lang.startsWith('zh')) {
    const texts = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!parent) continue;
      if (!node.data.trim() || !chinese(parent) || !visible(parent)) continue;
      texts.push([node.data, parent]);
    }
    const fields = 'input[placeholder], textarea[placeholder], input[type=submit], input[type=button]';
    for (const el of document.querySelectorAll(fields)) {
      if (chinese(el) && visible(el)) texts.push([el.placeholder || el.value || '', el]);
    }
    for (const [text, el] of texts) {
      // An address is no word; a code in capitals (QR, GBK, a pickup code HUTX J24B, a number 2026-D7DB2FBCB3) is
      // no untranslated text.
      for (const token of text.replace(/[a-z]+:\/\/\S+/gi, '').match(/[A-Za-z0-9_.\-@]+/g) || []) {
        const bare = token.replace(/^[.\-]+|[.\-]+$/g, '');
        if (/^[A-Z0-9][A-Z0-9_-]*$/.test(bare)) continue;
        if (/^[a-z][a-z0-9]*([._][a-z0-9]+)+$/.test(bare) && !/\.(xlsx|csv|pdf|png|svg|jpe?g|json)$/.test(bare)) {
          words.push(`key "${bare}" in ${describe(el)}`);
          continue;
        }
        if (/@/.test(bare)) continue;
        for (const word of bare.match(/[A-Za-z]{3,}/g) || []) {
          if (!allowed.includes(word.toLowerCase())) words.push(`word "${word}" in ${describe(el)}`);
        }
      }
    }
  }
  const root = document.documentElement;
  return {overflow: root.scrollWidth - root.clientWidth, small, smallest, words,
          elder: root.classList.contains('elder')};
}
"""

AXE_RUN = """
async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => n.target.join(' '))}));
}
"""


def check_page(page: Page, url: str, mode: str, width: int) -> PageResult:
    """Open `url` on `page` (sized `width`) and run the checks due at that width."""
    result = PageResult(url, mode, width)
    response = page.goto(url, wait_until="load")
    if response is not None and response.status >= 500:
        result.findings.append(Finding("status", url, mode, width, f"answered {response.status}"))
        return result
    page.add_script_tag(path=str(AXE))
    for violation in page.evaluate(AXE_RUN):
        result.axe_all.append((violation["id"], violation["impact"] or "", len(violation["nodes"])))
        if violation["impact"] in ("serious", "critical"):
            result.findings.append(Finding(
                "axe", url, mode, width, f"{violation['help']}: {', '.join(violation['nodes'][:4])}",
                rule=violation["id"], impact=violation["impact"]))
    if width not in PHONE_WIDTHS and width != TEXT_WIDTH:
        return result
    measured = page.evaluate(PAGE_CHECKS, {
        "readText": width == TEXT_WIDTH, "allowed": sorted(LATIN_ALLOWED)})
    result.elder = measured["elder"]
    if width in PHONE_WIDTHS:
        result.overflow = measured["overflow"]
        result.smallest = tuple(measured["smallest"]) if measured["smallest"] else None
        if measured["overflow"] > 0:
            result.findings.append(Finding("width", url, mode, width,
                                           f"{measured['overflow']}px wider than the screen"))
        # The page picks the minimum: 60 px only once 长辈版 is drawn (before that the cookie changes nothing).
        for w, h, selector in measured["small"]:
            result.small_targets.append((w, h, selector))
            result.findings.append(Finding("target", url, mode, width, f"{w:g}×{h:g} {selector}", size=(w, h)))
    for word in measured["words"]:
        result.findings.append(Finding("text", url, mode, width, word))
    return result


def check_persona(browser: Browser, base_url: str, phone: str | None, urls: list[str], mode: str,
                  width: int) -> list[PageResult]:
    """Sign in as `phone` in a fresh context of `mode` and `width` and check every one of `urls`."""
    context = new_context(browser, base_url, mode, width)
    try:
        page = context.new_page()
        sign_in(page, phone)
        return [check_page(page, url, mode, width) for url in urls]
    finally:
        context.close()
