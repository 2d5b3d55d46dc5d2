"""Count what the machine checks find on every page: `.venv/bin/python -m tests.browser.audit_report`.

Runs tests/browser/audit.py over the demo district (every persona, both modes, 320, 375 and 1,366 px) and prints
the pages checked, axe violations per rule, tap targets under 44 and 24 px with the smallest one, pages wider
than the screen and untranslated text: the before and after of a change's note. Links inside a sentence are
left out of the target counts, as WCAG 2.5.8 allows.
"""

from __future__ import annotations

import sys
from collections import Counter

from playwright.sync_api import sync_playwright

from tests.browser import CHROMIUM, audit, launch_chromium


def run() -> list[audit.PageResult]:
    results = []
    with audit.demo_server() as (base_url, app, seeds), sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            assigned, _ = audit.plan(browser, base_url, app, seeds)
            for persona, urls in assigned.items():
                for mode in audit.MODES:
                    for width in audit.WIDTHS:
                        results += audit.check_persona(browser, base_url, audit.PERSONAS[persona], urls, mode, width)
        finally:
            browser.close()
    return results


def report(results: list[audit.PageResult]) -> None:
    pages = {r.url for r in results}
    print(f"Pages checked: {len(pages)} (each in {len(audit.MODES)} modes at {len(audit.WIDTHS)} widths: "
          f"{len(results)} page views)")
    for mode in audit.MODES:
        views = [r for r in results if r.mode == mode]
        phone = [r for r in views if r.width in audit.PHONE_WIDTHS]
        print(f"\n== {mode} mode ==")
        serious, every = Counter(), Counter()
        for r in views:
            for rule, impact, nodes in r.axe_all:
                every[f"{rule} ({impact})"] += nodes
                if impact in ("serious", "critical"):
                    serious[f"{rule} ({impact})"] += nodes
        print(f"axe serious/critical: {sum(serious.values())} elements in "
              f"{sum(1 for r in views if any(i in ('serious', 'critical') for _, i, _ in r.axe_all))} page views")
        for rule, count in serious.most_common():
            print(f"  {count:5}  {rule}")
        print(f"axe, every impact: {sum(every.values())} elements")
        for rule, count in every.most_common():
            print(f"  {count:5}  {rule}")
        targets = [(w, h, sel, r.url, r.width) for r in phone for w, h, sel in r.small_targets]
        drawn = [r for r in phone if r.elder]
        print(f"tap targets at {' and '.join(map(str, audit.PHONE_WIDTHS))} px ({len(phone)} page views): "
              f"{sum(1 for t in targets if min(t[:2]) < 44)} under 44 px, "
              f"{sum(1 for t in targets if min(t[:2]) < 24)} under 24 px"
              + (f"; {len(drawn)} page views drawn in 长辈版, "
                 f"{sum(1 for r in drawn for w, h, _ in r.small_targets if min(w, h) < 60)} targets under 60 px there"
                 if mode == "elder" else ""))
        if targets:
            w, h, sel, url, width = min(targets, key=lambda t: (min(t[:2]), t[0] * t[1]))
            print(f"  smallest: {w:g}×{h:g} {sel} on {url} at {width} px")
        measured = [(*r.smallest, r.url, r.width) for r in phone if r.smallest]
        if measured:
            w, h, sel, url, width = min(measured, key=lambda t: (min(t[:2]), t[0] * t[1]))
            print(f"  smallest target measured: {w:g}×{h:g} {sel} on {url} at {width} px")
        by_page = Counter(t[3] for t in targets)
        for url, count in by_page.most_common(10):
            print(f"  {count:5}  {url}")
        wide = [r for r in phone if r.overflow > 0]
        print(f"wider than the screen: {len(wide)} page views")
        for r in sorted(wide, key=lambda r: -r.overflow):
            print(f"  {r.url} at {r.width} px: {r.width + r.overflow} px wide")
        texts = sorted({(f.url, f.detail) for r in views for f in r.findings if f.check == "text"})
        print(f"untranslated text: {len(texts)}")
        for url, detail in texts:
            print(f"  {url}: {detail}")
        broken = [f for r in views for f in r.findings if f.check == "status"]
        if broken:
            print(f"pages failing: {len(broken)}")
            for f in broken:
                print(f"  {f}")


def main() -> int:
    if not CHROMIUM.exists():
        print("Chromium not installed (make browsers): nothing checked.", file=sys.stderr)
        return 1
    report(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
