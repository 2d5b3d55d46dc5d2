// The 长辈版 checks, run in the page (tests/browser/test_elder.py): what on this page breaks the 工信部 适老化
// rules. Returns {font, lineHeight, width, problems: [...]}; each problem names the element.
() => {
  const MIN_TAP = 59.5, MIN_TEXT = 17.95, MIN_CONTRAST = 4.5;
  const problems = [];
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return false;
    const s = getComputedStyle(el);
    return s.visibility !== "hidden" && s.display !== "none" && s.opacity !== "0";
  };
  const name = (el) => `${el.tagName.toLowerCase()}${el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : ""} "${(el.innerText || el.value || el.getAttribute("aria-label") || "").trim().slice(0, 30)}"`;
  const INTERACTIVE = "a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], [tabindex]:not([tabindex='-1'])";
  const WORD = /[\p{L}\p{N}]/u;

  // Visible words in `block` outside every interactive element: a link among them sits inside a sentence.
  const textOutsideControls = (block) => {
    const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!WORD.test(node.textContent) || parent.closest(INTERACTIVE) || !shown(parent)) continue;
      if (parent.closest("[aria-hidden=true]")) continue;
      return true;
    }
    return false;
  };
  const blockOf = (el) => {
    for (let up = el.parentElement; up; up = up.parentElement) {
      if (!getComputedStyle(up).display.startsWith("inline")) return up;
    }
    return document.body;
  };

  for (const el of document.querySelectorAll(INTERACTIVE)) {
    if (!shown(el) && !(el.matches("input[type=checkbox], input[type=radio]"))) continue;
    let target = el;
    if (el.matches("input[type=checkbox], input[type=radio]")) {
      target = el.closest("label") || (el.id && document.querySelector(`label[for="${el.id}"]`)) || el;
      if (!shown(target)) continue;
    }
    if (el.tagName === "A" && getComputedStyle(el).display.startsWith("inline") && !getComputedStyle(el).display.includes("flex")
        && !getComputedStyle(el).display.includes("block") && textOutsideControls(blockOf(el))) continue;
    const r = target.getBoundingClientRect();
    if (r.width < MIN_TAP || r.height < MIN_TAP) {
      problems.push(`target ${Math.round(r.width)}x${Math.round(r.height)}: ${name(el)}`);
    }
  }

  const luminance = (rgb) => {
    const [r, g, b] = rgb.map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const rgba = (css) => (css.match(/[\d.]+/g) || []).map(Number);
  const background = (el) => {
    for (let up = el; up; up = up.parentElement) {
      const s = getComputedStyle(up);
      if (s.backgroundImage !== "none" && !s.backgroundImage.startsWith("linear-gradient")) return null;
      const c = rgba(s.backgroundColor);
      if (c.length >= 3 && (c.length === 3 || c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!WORD.test(node.textContent) || seen.has(el) || !shown(el)) continue;
    if (el.closest("svg, [aria-hidden=true], .visually-hidden, option, script, style")) continue;
    seen.add(el);
    const s = getComputedStyle(el);
    if (parseFloat(s.fontSize) < MIN_TEXT) problems.push(`text ${s.fontSize}: ${name(el)}`);
    const bg = background(el);
    const fg = rgba(s.color);
    if (bg && fg.length >= 3 && (fg.length === 3 || fg[3] > 0.5)) {
      const [a, b] = [luminance(fg.slice(0, 3)), luminance(bg)].sort((x, y) => y - x);
      const ratio = (a + 0.05) / (b + 0.05);
      if (ratio < MIN_CONTRAST) problems.push(`contrast ${ratio.toFixed(2)}: ${name(el)} ${s.color} on rgb(${bg})`);
    }
  }
  const body = getComputedStyle(document.body);
  return {font: parseFloat(body.fontSize), lineHeight: parseFloat(body.lineHeight),
          width: document.documentElement.scrollWidth, viewport: window.innerWidth, problems};
}
