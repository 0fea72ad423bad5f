"""The built book as a reader gets it: every page at a laptop width (1280 px) and a phone width
(390 px) in Chromium, served over HTTP. Run with ``make check-site`` (after ``make book``)."""

from __future__ import annotations

import html.parser
import posixpath
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.site

# Solution blocks of every kind the book has used: code cells tagged `solution` (myst-nb folds their
# source in a <details>), sphinx-exercise `solution` admonitions (a dropdown folded by
# sphinx-togglebutton) and any <details> dropdown whose title says "Solution". Each is marked with
# data-msp-solution / -toggle / -content = its index, for the browser to click and look at.
MARK_SOLUTIONS = """() => {
  const inside = (el, blocks) => blocks.some(b => b !== el && b.contains(el));
  let blocks = [...document.querySelectorAll('.cell.tag_solution, div.solution')];
  for (const d of document.querySelectorAll('details')) {
    const summary = d.querySelector(':scope > summary');
    if (summary && /solution/i.test(summary.textContent) && !inside(d, blocks)) blocks.push(d);
  }
  blocks = blocks.filter(b => !inside(b, blocks));
  const found = [];
  blocks.forEach((block, i) => {
    const details = block.tagName === 'DETAILS' ? block : block.querySelector('details');
    let toggle, content;
    if (details) {
      toggle = details.querySelector(':scope > summary');
      content = [...details.children].filter(c => c.tagName !== 'SUMMARY');
    } else {
      toggle = block.querySelector('button.toggle-button') || block.querySelector('.admonition-title');
      content = [...block.children].filter(c => !c.classList.contains('admonition-title')
                                                && !c.classList.contains('toggle-button'));
    }
    block.dataset.mspSolution = i;
    if (toggle) toggle.dataset.mspSolutionToggle = i;
    content.forEach(c => c.dataset.mspSolutionContent = i);
    found.push({kind: details ? 'details' : 'admonition', toggle: !!toggle, content: content.length,
                text: (block.textContent || '').trim().slice(0, 60)});
  });
  return found;
}"""

# Elements that stick out of the page to the right, outside any horizontally scrollable box; only
# the outermost of them, named by a short CSS path.
OVERFLOW = """() => {
  const root = document.documentElement, limit = root.clientWidth;
  // inside a box that scrolls or clips sideways, or fixed to the viewport (off-canvas sidebars)
  const clipped = el => {
    if (getComputedStyle(el).position === 'fixed') return true;
    for (let a = el.parentElement; a && a !== document.body && a !== root; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (style.position === 'fixed' || ['auto', 'scroll', 'hidden', 'clip'].includes(style.overflowX)) return true;
    }
    return false;
  };
  const name = el => {
    const parts = [];
    for (let e = el; e && e.nodeType === 1 && parts.length < 5; e = e.parentElement) {
      let s = e.tagName.toLowerCase();
      if (e.id) { parts.unshift(s + '#' + e.id); break; }
      if (e.classList.length) s += '.' + [...e.classList].slice(0, 3).join('.');
      parts.unshift(s);
    }
    return parts.join(' > ') + ' (' + Math.round(el.getBoundingClientRect().right) + 'px)';
  };
  const wide = [...document.body.querySelectorAll('*')].filter(el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.right > limit + 1 && !clipped(el);
  });
  const outer = wide.filter(el => !wide.some(o => o !== el && o.contains(el)));
  return {scrollWidth: root.scrollWidth, clientWidth: limit, offenders: outer.slice(0, 15).map(name)};
}"""

IMAGES = """async () => {
  const images = [...document.images];
  images.forEach(img => { img.loading = 'eager'; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  return images.map(img => ({src: img.currentSrc || img.src, width: img.naturalWidth}));
}"""


@pytest.fixture
def visit(visits, site, page_path, width):
    return visits(page_path, width)


def test_page_loads_cleanly(visit, page_path, width, screenshots):
    """No console error, no uncaught exception, no failed request, nothing fetched from other sites;
    and a full-page screenshot in _build/screenshots/ to look at."""
    name = f"{page_path.removesuffix('.html').replace('/', '__')}-{width}.png"
    visit.page.screenshot(path=str(screenshots / name), full_page=True)
    assert visit.errors == [], f"{page_path} at {width}px:\n" + "\n".join(visit.errors)
    assert visit.foreign == [], f"{page_path} loads resources from other sites: {visit.foreign}"


def test_every_image_loads(visit, page_path):
    images = visit.page.evaluate(IMAGES)
    broken = [i["src"] for i in images if i["width"] == 0]
    assert broken == [], f"{page_path}: images that did not load: {broken}"
    if page_path.startswith("book/executed/"):
        assert any("_images/" in i["src"] for i in images), f"{page_path}: a chapter without a figure"


def test_page_does_not_scroll_sideways(visit, page_path, width):
    """Wide tables and code may scroll inside their own box; the page itself must not."""
    result = visit.page.evaluate(OVERFLOW)
    assert result["scrollWidth"] <= result["clientWidth"], (
        f"{page_path} at {width}px is {result['scrollWidth']}px wide for a "
        f"{result['clientWidth']}px viewport; sticking out: {result['offenders']}")


class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.ids.add(value)


@lru_cache(maxsize=None)
def ids_of(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8"))
    return frozenset(parser.ids)


def test_internal_links_resolve(visit, page_path, site, base_url):
    """Every link to the book itself names a file that exists and, with #anchor, an id on that page."""
    hrefs = visit.page.evaluate(
        "() => [...document.querySelectorAll('a[href], link[href]')].map(a => a.href)")
    broken = []
    internal = 0
    for href in hrefs:
        if not href.startswith(base_url):
            continue
        internal += 1
        parts = urlsplit(href)
        target = site / unquote(parts.path).lstrip("/")
        if parts.path.endswith("/"):
            target = target / "index.html"
        if not target.is_file():
            broken.append(f"{href}: no file {target.relative_to(site)}")
        elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in ids_of(target):
            broken.append(f"{href}: no id {parts.fragment!r} on {target.relative_to(site)}")
    assert internal > 0, f"{page_path}: no internal link at all"
    assert broken == [], f"{page_path}: broken internal links:\n" + "\n".join(broken)


def test_solutions_are_folded_until_clicked(visit, page_path, width):
    """Each solution is hidden until its toggle is clicked, then shown (this check clicks, so it runs
    after the others on the same tab)."""
    page = visit.page
    blocks = page.evaluate(MARK_SOLUTIONS)
    if page_path.startswith("book/executed/"):
        assert blocks, f"{page_path}: a chapter with no solution block (every chapter has exercises)"
    for i, block in enumerate(blocks):
        where = f"{page_path} at {width}px, solution {i + 1} ({block['text']!r})"
        assert block["toggle"] and block["content"], f"{where}: no toggle or no content found: {block}"
        content = page.locator(f'[data-msp-solution-content="{i}"]')
        shown = [content.nth(k).is_visible() for k in range(content.count())]
        assert not any(shown), f"{where}: visible before it is clicked"
        page.locator(f'[data-msp-solution-toggle="{i}"]').click()
        page.wait_for_function(
            """i => [...document.querySelectorAll(`[data-msp-solution-content="${i}"]`)]
                    .some(el => el.checkVisibility())""", arg=i, timeout=5_000)
        assert content.first.is_visible() or any(content.nth(k).is_visible() for k in range(content.count())), \
            f"{where}: still hidden after a click"
        outputs = page.locator(f'[data-msp-solution="{i}"] .cell_output')
        if outputs.count():
            assert outputs.first.is_visible(), f"{where}: the solution's output is still hidden after a click"
    assert visit.errors == [], f"{page_path} after opening the solutions:\n" + "\n".join(visit.errors)


EXERCISES = """() => ({
  exercises: [...document.querySelectorAll('div.exercise')].map(
    e => (e.querySelector('.admonition-title') || e).textContent.trim()),
  solutions: [...document.querySelectorAll('div.solution')].map(s => ({
    title: (s.querySelector('.admonition-title') || s).textContent.trim(),
    dropdown: s.classList.contains('dropdown'),
    code: s.querySelectorAll('.cell_input').length, outputs: s.querySelectorAll('.cell_output').length})),
  loose: [...document.querySelectorAll('.cell.tag_solution')].filter(c => !c.closest('div.solution')).length,
  folded_source: document.querySelectorAll('div.solution details.hide-input, div.solution .tag_hide-input').length,
})"""


def test_exercises_are_numbered_and_each_solution_holds_its_code_and_output(visit, page_path):
    """sphinx-exercise blocks: 'Exercise C.N' titles (chapter C), and for each a dropdown titled 'Solution …' with
    the solution's code and its output inside it; no solution cell outside such a dropdown."""
    if not page_path.startswith("book/executed/"):
        return
    found = visit.page.evaluate(EXERCISES)
    assert found["exercises"], f"{page_path}: no numbered exercise"
    # numbered per chapter, as the chapters are (Exercise 3.1, 3.2, ... in chapter 3)
    numbers = [re.match(r"Exercise (\d+)\.(\d+)", t) for t in found["exercises"]]
    assert all(numbers), found["exercises"]
    assert len({m.group(1) for m in numbers}) == 1, found["exercises"]
    assert [int(m.group(2)) for m in numbers] == list(range(1, len(numbers) + 1)), found["exercises"]
    assert len(found["solutions"]) == len(found["exercises"]), found
    for solution in found["solutions"]:
        assert solution["title"].startswith("Solution") and solution["dropdown"], solution
        assert solution["code"] >= 1 and solution["outputs"] >= 1, f"{page_path}: {solution}"
    assert found["loose"] == 0, f"{page_path}: solution cells outside a solution dropdown"
    assert found["folded_source"] == 0, f"{page_path}: a solution's code folded a second time inside it"


def test_search_finds_mann_whitney(open_page, site, widths):
    visit = open_page("search.html?q=Mann-Whitney", widths["wide"])
    results = visit.page.locator("#search-results ul.search li a")
    results.first.wait_for(timeout=15_000)
    targets = [results.nth(k).get_attribute("href") for k in range(results.count())]
    assert any("book/executed/correctness.html" in t for t in targets), targets
    assert visit.errors == [], visit.errors


def test_home_page_redirects_to_the_introduction(open_page, site, widths):
    visit = open_page("index.html", widths["phone"])
    visit.page.wait_for_url("**/book/intro.html")
    assert visit.page.locator("h1").first.inner_text().startswith("Miscalibrated, yet predictive")


def _config() -> dict:
    return yaml.safe_load((REPO / "_config.yml").read_text())


def test_launch_buttons_open_notebooks_that_are_published(open_page, site, launch_tree, widths):
    """Colab and Binder open <chapter>.ipynb on the launch branch: each file is in the tree that the
    deploy workflow publishes there (built here from HEAD and the executed chapters)."""
    config = _config()
    repo = urlsplit(config["repository"]["url"]).path.strip("/")
    branch = config["repository"]["branch"]
    chapters = sorted(p.relative_to(site).as_posix() for p in (site / "book" / "executed").glob("*.html"))
    assert chapters, "no chapter pages"
    for page_path in chapters:
        visit = open_page(page_path, widths["wide"])
        links = visit.page.evaluate("""() => [...document.querySelectorAll('a[href]')].map(a => a.href)
                                         .filter(h => /colab\\.research\\.google\\.com|mybinder\\.org/.test(h))""")
        colab = [h for h in links if "colab.research.google.com" in h]
        binder = [h for h in links if "mybinder.org" in h]
        assert len(colab) == 1 and len(binder) == 1, (page_path, links)
        match = re.fullmatch(rf"https://colab\.research\.google\.com/github/{repo}/blob/{branch}/(.+)", colab[0])
        assert match, colab[0]
        colab_file = posixpath.normpath(match.group(1))
        parts = urlsplit(binder[0])
        assert parts.path == f"/v2/gh/{repo}/{branch}", binder[0]
        urlpath = parse_qs(parts.query)["urlpath"][0]
        assert urlpath.startswith("lab/tree/"), urlpath
        binder_file = posixpath.normpath(urlpath.removeprefix("lab/tree/"))
        expected = page_path.replace(".html", ".ipynb")
        assert colab_file == binder_file == expected
        assert expected in launch_tree, f"{expected} is not in the tree published on {branch}"
    for needed in ("environment.yml", "postBuild", "pyproject.toml", "src/helpers/__init__.py"):
        assert needed in launch_tree, f"Binder needs {needed} on the launch branch"
