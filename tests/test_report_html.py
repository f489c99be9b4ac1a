"""The student's HTML report (grader/templates/report.html.j2) as a page, in headless Chromium.

Three real gradings, in French and in English (shared through `graded_once`: the French ones
are those of tests/test_grading.py and tests/test_class_report.py): the untouched template, a
partial submission (launchType EC2: task_run and what follows fail, the rest passes) and the
reference. Each page is rendered again from its report.json (it must be the page the grader
wrote: the report's model read back, grader/report_html.py's helpers registered), then opened in
Chromium through the DevTools protocol (--remote-debugging-pipe, no other dependency):
desktop and 375 px phone widths, print emulation and a PDF on A4. Screenshots and PDFs are
kept in .cache/artefacts/.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browser_support import chromium
from grading_support import ROOT, Graded
from submissions.faults import by_name, materialise

from grader import report_html, reports
from grader.results import CheckpointResult, CheckResult, GradeReport

ARTEFACTS = ROOT / ".cache" / "artefacts"
PARTIAL = "task_run_launch_type_ec2"  # loses task_run (with expected/seen values), main_runs and a bonus
RUNS = {  # (kind, lang) -> graded_once key and its arguments
    ("template", "fr"): ("template", "student_template"),
    ("partial", "fr"): (PARTIAL, None),
    ("reference", "fr"): ("reference", "reference"),
    ("template", "en"): ("template-en", "student_template", "--lang", "en"),
    ("partial", "en"): (f"{PARTIAL}-en", None, "--lang", "en"),
    ("reference", "en"): ("reference-en", "reference", "--lang", "en"),
}
PHONE_WIDTH = 375
MAX_PDF_PAGES = 4
A4_HEIGHT_PT = 842


# --- The pages ----------------------------------------------------------------------------------


def report_from_json(data: dict) -> GradeReport:
    """The GradeReport a report.json was written from (its computed keys are the model's properties)."""

    def build(cls, values: dict, **extra):
        names = {f.name for f in fields(cls)} - set(extra)
        return cls(**{k: v for k, v in values.items() if k in names}, **extra)

    checkpoints = [build(CheckpointResult, c, checks=[build(CheckResult, k) for k in c["checks"]])
                   for c in data["checkpoints"]]
    return build(GradeReport, data, checkpoints=checkpoints)


def render(report: GradeReport, helpers: bool) -> str:
    reports.preload()
    env = reports._env.overlay()
    # An overlay shares its parent's filters and globals: the grader's environment is left as it is.
    env.filters, env.globals = dict(env.filters), dict(env.globals)
    if helpers:
        report_html.register(env)
    return env.get_template("report.html.j2").render(r=report)


def _writer(name: str):
    return lambda directory, _reports: materialise(by_name(name), directory)


@pytest.fixture(scope="module")
def pages(graded_once, tmp_path_factory) -> dict[tuple[str, str], dict]:
    """(kind, lang) -> the grading, its report, the grader's page and the page with the helpers (a file)."""
    out = tmp_path_factory.mktemp("report-html")

    def run(item):
        (kind, lang), (key, submission, *options) = item
        return (kind, lang), graded_once(key, submission or _writer(PARTIAL), *options)

    with ThreadPoolExecutor(max_workers=3) as pool:  # each grading is its own process
        graded: dict[tuple[str, str], Graded] = dict(pool.map(run, RUNS.items()))
    result = {}
    for (kind, lang), run_ in graded.items():
        assert run_.returncode == 0, run_.explain()
        report = report_from_json(run_.report)
        path = out / f"{kind}-{lang}.html"
        path.write_text(render(report, helpers=True), encoding="utf-8")
        result[kind, lang] = {"graded": run_, "report": report, "path": path,
                              "written": (run_.report_dir / "report.html").read_text(encoding="utf-8")}
    return result


class _Page(HTMLParser):
    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.links: list[str] = []
        self.tags: set[str] = set()
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if attrs.get("id"):
            self.ids.append(attrs["id"])
        if tag == "a" and attrs.get("href") is not None:
            self.links.append(attrs["href"])


# --- Chromium through the DevTools protocol ------------------------------------------------------


class Chromium:
    """Headless Chromium driven over --remote-debugging-pipe (fd 3: commands in, fd 4: events out)."""

    def __init__(self, profile: Path):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # In the child, fd 3 and 4 must be these pipes whatever numbers the kernel gave them.
        high_r, high_w = os.dup(to_browser_r) + 100, os.dup(from_browser_w) + 100
        os.dup2(to_browser_r, high_r)
        os.dup2(from_browser_w, high_w)

        def child_fds():
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        command = [chromium("the report's browser test"), "--headless=new", "--no-sandbox",
                   "--disable-gpu", "--no-first-run",
                   "--hide-scrollbars", "--remote-debugging-pipe", f"--user-data-dir={profile}",
                   "--font-render-hinting=none", "about:blank"]
        # pass_fds: 3 and 4 are kept open at exec (the child's fds are closed after preexec_fn).
        self.process = subprocess.Popen(command, pass_fds=(3, 4), preexec_fn=child_fds,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        for fd in (to_browser_r, from_browser_w, high_r, high_w):
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def close(self) -> None:
        os.close(self._to_browser)
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._from_browser)

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: str | None = None, timeout: float = 60, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]
            self.events.append(answer)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                self.events.remove(event)
                return event
        while True:
            event = self._read(deadline)
            if event.get("method") == method:
                return event
            self.events.append(event)

    def open(self, path: Path, width: int, height: int = 900, mobile: bool = False) -> str:
        """A new tab at that size with the page loaded; its session id."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session)
        self.send("Emulation.setDeviceMetricsOverride", session, width=width, height=height,
                  deviceScaleFactor=2 if mobile else 1, mobile=mobile)
        self.send("Page.navigate", session, url=path.as_uri())
        self.wait_for("Page.loadEventFired")
        return session

    def evaluate(self, session: str, expression: str):
        result = self.send("Runtime.evaluate", session, expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(json.dumps(params.get("args"))[:300])
            elif method == "Runtime.exceptionThrown":
                found.append(json.dumps(params.get("exceptionDetails"))[:300])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(params["entry"].get("text", "")[:300])
        return found


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        chromium.send("Target.getTargets")
        yield chromium
    finally:
        chromium.close()


# What the page shows, measured in the browser.
PAGE_FACTS = """(() => {
  const missing = [...document.querySelectorAll('a[href^="#"]')]
    .map(a => a.getAttribute('href').slice(1)).filter(id => !document.getElementById(decodeURIComponent(id)));
  const summary = document.getElementById('summary');
  const wide = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 0.5)
    .map(e => e.tagName + '.' + e.className).slice(0, 5);
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth, missing, wide,
          summaryTop: summary ? summary.getBoundingClientRect().top : null,
          summaryBottom: summary ? summary.getBoundingClientRect().bottom : null,
          marks: document.querySelectorAll('mark').length,
          monoValues: [...document.querySelectorAll('.val')].filter(e => /mono/i.test(getComputedStyle(e).fontFamily)).length,
          values: document.querySelectorAll('.val').length,
          external: [...document.querySelectorAll('[src], link[href]')].length};
})()"""


def _screenshot(browser: Chromium, session: str, path: Path, full: bool = False) -> None:
    options = {"format": "png", "captureBeyondViewport": full}
    if full:
        height = browser.evaluate(session, "document.documentElement.scrollHeight")
        width = browser.evaluate(session, "document.documentElement.clientWidth")
        options["clip"] = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
    data = base64.b64decode(browser.send("Page.captureScreenshot", session, **options)["data"])
    path.write_bytes(data)
    assert path.stat().st_size > 10_000, path


# --- PDF: pages, and where the outline (the headings) says each heading is ----------------------


def _pdf_objects(pdf: bytes) -> dict[int, bytes]:
    """Object number -> body, object streams (compressed) unpacked."""
    objects = {int(m.group(1)): m.group(2) for m in re.finditer(rb"(\d+) 0 obj\s*(.*?)endobj", pdf, re.DOTALL)}
    for body in list(objects.values()):
        if b"/ObjStm" in body[:300]:
            head, _, rest = body.partition(b"stream")
            data = zlib.decompress(rest.lstrip(b"\r\n").rsplit(b"endstream", 1)[0])
            first = int(re.search(rb"/First (\d+)", head).group(1))
            numbers = [int(x) for x in data[:first].split()]
            pairs = list(zip(numbers[::2], numbers[1::2]))
            for i, (number, offset) in enumerate(pairs):
                end = pairs[i + 1][1] if i + 1 < len(pairs) else len(data) - first
                objects[number] = data[first + offset:first + end]
    return objects


def pdf_layout(pdf: bytes) -> tuple[int, list[tuple[int, float]]]:
    """(page count, [(page index, top y in points) of each outline entry, in order])."""
    objects = _pdf_objects(pdf)
    pages = [n for n, body in objects.items() if re.search(rb"/Type\s*/Page(?!s)\b", body)]
    root = next(b for b in objects.values() if b"/Type /Catalog" in b or b"/Type/Catalog" in b)
    kids_ref = re.search(rb"/Pages (\d+) 0 R", root)
    ordered = re.findall(rb"(\d+) 0 R", re.search(rb"/Kids\s*\[(.*?)\]", objects[int(kids_ref.group(1))],
                                                    re.DOTALL).group(1))
    order = [int(n) for n in ordered]
    if any(b"/Type /Pages" in objects.get(n, b"") for n in order):  # a tree deeper than one level
        order = sorted(pages)
    headings = []
    for body in objects.values():
        found = re.search(rb"/Dest\s*\[\s*(\d+) 0 R\s*/XYZ\s+([-\d.]+)\s+([-\d.]+)", body)
        if found and b"/Title" in body:
            headings.append((order.index(int(found.group(1))), float(found.group(3))))
    return len(pages), headings


# --- The tests ------------------------------------------------------------------------------------

FRENCH_LABELS = ("attendu", "obtenu", "Prochaine étape", "À reprendre", "réussi", "Vérifiés par", "Relisez")


def _static_checks(key: tuple[str, str], page: dict) -> None:
    kind, lang = key
    report: GradeReport = page["report"]
    html = page["path"].read_text(encoding="utf-8")
    # The page the grader wrote is this render (grader/reports.py registers the HTML helpers).
    assert "feedback_parts" in reports._env.filters
    assert page["written"] == render(report, helpers=True), f"{key}: the grader's page is not its report's render"
    parsed = _Page(html)
    # Self-contained: no script, nothing fetched, no URL.
    assert not parsed.tags & {"script", "link", "img", "iframe"} and "@import" not in html and "url(" not in html
    assert not re.findall(r"(?:https?:)?//[\w.-]+\.\w", html), key
    assert len(parsed.ids) == len(set(parsed.ids)), f"{key}: duplicate ids"
    assert {c.id for c in report.checkpoints} <= set(parsed.ids), "every checkpoint keeps its #id anchor"
    assert all(link.startswith("#") and link[1:] in parsed.ids for link in parsed.links), key
    # The summary: first, with the score, what it covers, the next step and a link to each checkpoint not met.
    summary = html[html.index('id="summary"'):html.index("</section>", html.index('id="summary"'))]
    assert html.index('id="summary"') < html.index('class="part"')
    not_met = [c.id for c in report.checkpoints if c.status in ("failed", "partial")]
    linked = re.findall(r'<a href="#([^"]+)">', summary)
    assert set(not_met) <= set(linked), (key, not_met, linked)
    assert report.coverage.text in unescape(summary)
    next_step = report.next_step
    assert next_step.text in unescape(summary)
    if next_step.checkpoint:
        assert f'<a href="#{next_step.checkpoint.id}">' in summary
    assert (kind == "reference") == (not not_met), key
    # Checkpoints only another tier verifies: one line per part, not one row each.
    others = [c for c in report.checkpoints if c.other_tier]
    assert others and not any(f'<article id="{c.id}"' in html for c in others)
    assert unescape(html).count("Verified by other tiers" if lang == "en" else "Vérifiés par d'autres tiers") == \
        len({c.part for c in others})
    if lang == "en":
        labels = re.sub(r'<span class="val[^"]*">.*?</span>|<p class="msg">.*?</p>', "", html, flags=re.DOTALL)
        found = [w for w in FRENCH_LABELS if w in labels]
        assert not found, f"French labels in the English page: {found}"


def test_report_pages_in_chromium(pages, browser, capsys):
    """Both languages, three submissions: the page's content, then desktop, phone and A4 in Chromium."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    kept = []
    for key, page in pages.items():
        kind, lang = key
        name = f"report-{kind}-{lang}"
        _static_checks(key, page)

        session = browser.open(page["path"], 1280, 900)
        facts = browser.evaluate(session, PAGE_FACTS)
        assert facts["missing"] == [], f"{key}: in-page links to no element: {facts['missing']}"
        assert facts["summaryTop"] is not None and facts["summaryTop"] < 200, facts
        assert facts["scrollWidth"] <= 1280 and facts["external"] == 0, facts
        assert facts["values"] == facts["monoValues"], f"{key}: expected/seen values not in monospace"
        if kind == "partial":  # 'FARGATE' expected, 'EC2' seen: EC2 is marked, not the quotes
            marked = browser.evaluate(session, "[...document.querySelectorAll('#task_run .seen mark')]"
                                               ".map(m => m.textContent)")
            assert "EC2" in marked, marked
        _screenshot(browser, session, ARTEFACTS / f"{name}-desktop.png")
        pdf = base64.b64decode(browser.send("Page.printToPDF", session, preferCSSPageSize=True,
                                            printBackground=True, generateDocumentOutline=True)["data"])
        (ARTEFACTS / f"{name}.pdf").write_bytes(pdf)

        phone = browser.open(page["path"], PHONE_WIDTH, 812, mobile=True)
        facts = browser.evaluate(phone, PAGE_FACTS)
        assert facts["scrollWidth"] <= PHONE_WIDTH and not facts["wide"], f"{key}: wider than a phone: {facts}"
        assert facts["missing"] == [], facts
        _screenshot(browser, phone, ARTEFACTS / f"{name}-phone.png")
        _screenshot(browser, phone, ARTEFACTS / f"{name}-phone-full.png", full=True)

        # Printed on A4: a few pages, every heading followed by something on its page.
        count, headings = pdf_layout(pdf)
        assert 1 <= count <= MAX_PDF_PAGES, f"{key}: {count} pages"
        boxes = {(round(float(w)), round(float(h))) for w, h in re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)", pdf)}
        assert boxes == {(595, A4_HEIGHT_PT)}, f"{key}: not A4: {boxes}"
        assert len(headings) >= len(page["report"].by_part()), f"{key}: no outline to check the headings with"
        bottom_margin_pt = 15 / 25.4 * 72
        low = [(p, y) for p, y in headings if y - bottom_margin_pt < 30]
        assert not low, f"{key}: a heading at the very bottom of a page (page, y): {low}"
        kept.append(name)
        assert not browser.problems(), f"{key}: console: {browser.problems()}"
    with capsys.disabled():
        print(f"\nreport pages (desktop, phone, PDF) in {ARTEFACTS}: {', '.join(kept)}")


def test_feedback_parts():
    parts = report_html.feedback_parts("Le CPU doit être « 1024 ».\nattendu : '1024'\nobtenu : '1000'", "fr")
    assert parts.message == "Le CPU doit être « 1024 »."
    assert [(v.kind, v.text) for v in parts.values] == [("expected", "'1024'"), ("seen", "'1000'")]
    assert (parts.seen.before, parts.seen.diff, parts.seen.after) == ("'", "1000", "'"), "whole words"
    assert parts.expected.diff == "1024"
    # A value over several lines (a program's output), and a hint.
    parts = report_html.feedback_parts("The run must succeed.\nexpected: 0\nseen: code 1, output: a\nb\n"
                                       "hint: read the logs", "en")
    assert [(v.kind, v.text) for v in parts.values] == [("expected", "0"), ("seen", "code 1, output: a\nb"),
                                                         ("hint", "read the logs")]
    assert not parts.seen.marked and not parts.expected.marked, "nothing in common, long: no mark"
    parts = report_html.feedback_parts("x\nexpected: ['a', 'b']\nseen: ['a', 'c', 'b']", "en")
    assert parts.seen.diff == "c', '" and not parts.expected.marked  # an insertion: nothing to mark on one side
    parts = report_html.feedback_parts("x\nexpected: 'FARGATE'\nseen: 'EC2'", "en")
    assert parts.seen.diff == "EC2" and parts.expected.diff == "FARGATE"
    # Labels of the other language, or mid-line, are text; a message without values is kept whole.
    parts = report_html.feedback_parts("a\nexpected: 1\nvu : attendu : 2", "fr")
    assert parts.values == [] and parts.message == "a\nexpected: 1\nvu : attendu : 2"
    assert report_html.differing_span("same", "same") == (4, 4, 4, 4)


def test_partial_run_and_hostile_text(pages):
    """A -m/-k run says so in the summary; text from the submission is escaped inside the values."""
    report = report_from_json(pages["partial", "fr"]["graded"].report)
    report.partial = True
    hostile = '<script>alert(1)</script>'
    task_run = next(c for c in report.checkpoints if c.id == "task_run")
    task_run.feedback = [f"Message {hostile}\nattendu : 'a{hostile}'\nobtenu : 'b{hostile}'"]
    html = render(report, helpers=True)
    summary = html[html.index('id="summary"'):html.index("</section>")]
    assert 'class="warning"' in summary and "-m/-k" in summary
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<mark>b</mark>" in html  # only the differing letter, the rest (escaped) kept plain
