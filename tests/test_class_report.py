"""The class report (grader/batch/class_report.py): built from a real batch, read back, opened in a browser.

The batch is real: its graded rows are the reports of real gradings (the reference, the
template, corpus submissions; shared with tests/test_grading.py through `graded_once`, so
nothing is graded twice), their files staged as `ecs-lab grade` stages them; a timeout row,
a missing-files row with hostile text and a graded row whose report.json is corrupt complete
it. The page is checked as text (counts, grouped feedback, links, both languages) and as a
page, in headless Chromium (no console error, charts and links in the rendered DOM, a
screenshot kept in .cache/artefacts/).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from browser_support import chromium
from grading_support import ROOT, Graded
from submissions.faults import by_name, materialise

from grader.batch import similarity
from grader.batch.class_report import CLASS_REPORT, write_class_report
from grader.batch.model import (
    GRADED,
    MISSING_FILES,
    STAGING_DIR,
    TIMEOUT,
    Batch,
    Row,
    write_batch,
)
from grader.catalogue import load_catalogue

CATALOGUE = load_catalogue()
ARTEFACTS = ROOT / ".cache" / "artefacts"
# Corpus submissions test_grading.py grades too (same keys): two fail task_run the same way
# and more, one fails task_monitoring.
CORPUS = {"ec2-dave": "task_run_launch_type_ec2", "container-erin": "task_run_wrong_container_name",
          "busy-frank": "monitor_busy_loop"}
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
# Words of the French page's own labels that must not appear in the English page's labels.
FRENCH = ("rendu", "rendus", "noté", "notés", "réussi", "échoué", "partiel", "étape", "généré", "moyenne",
          "médiane", "répartition", "réussite", "rapport", "aucun", "fichier", "vérifiable", "paires", "raison",
          "statut", "délai", "manquants", "sur", "commun", "seuil", "type")


def _writer(name: str):
    return lambda directory, _reports: materialise(by_name(name), directory)


def _row(out: Path, row_id: str, graded: Graded, files_from) -> Row:
    """A graded row as `ecs-lab grade` writes it: reports copied to OUT/<id>, files staged."""
    shutil.copytree(graded.report_dir, out / row_id)
    staged = out / STAGING_DIR / row_id
    files_from(staged)
    report = graded.report
    return Row(
        id=row_id, source=f"submissions/{row_id}", status=GRADED,
        files=sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()),
        staged=f"{STAGING_DIR}/{row_id}", report_dir=row_id, score=report["score"], max_score=report["max_score"],
        graded_max=report["graded_max"], bonus=report["bonus_score"], bonus_max=report["bonus_max"],
        checkpoints={c["id"]: (None if c["status"] == "not_graded" else c["score"]) for c in report["checkpoints"]},
    )


def _copy_folder(source: Path):
    return lambda target: shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))


def _batch(lang: str, rows: list[Row]) -> Batch:
    return Batch(tier="offline", lang=lang, generated_at="2026-11-27T16:34:40+00:00",
                 settings={"tier": "offline"}, rows=rows)


@pytest.fixture(scope="module")
def class_rows(tmp_path_factory, reference: Graded, template: Graded, graded_once):
    """OUT with a real batch's files, and its rows (the caller picks the language)."""
    out = tmp_path_factory.mktemp("class-out")
    rows = [
        _row(out, "ref-alice", reference, _copy_folder(ROOT / "reference")),
        _row(out, "tpl-bob", template, _copy_folder(ROOT / "student_template")),
        _row(out, "tpl-carol", template, _copy_folder(ROOT / "student_template")),
    ]
    for row_id, name in CORPUS.items():
        rows.append(_row(out, row_id, graded_once(name, _writer(name)), lambda t, n=name: materialise(by_name(n), t)))
    corrupt = _row(out, "corrupt-grace", reference, _copy_folder(ROOT / "reference"))
    (out / corrupt.report_dir / "report.json").write_text('{"checkpoints": [', encoding="utf-8")
    rows.append(corrupt)
    rows.append(Row(id="late-heidi", source="submissions/late-heidi.zip", status=TIMEOUT,
                    reason="Le rendu a dépassé la limite de 180 s.", timeout_s=180))
    rows.append(Row(id="empty-ivan", source="submissions/empty-ivan", status=MISSING_FILES, reason=HOSTILE))
    return out, rows


@pytest.fixture(scope="module")
def report_fr(class_rows):
    out, rows = class_rows
    batch = _batch("fr", rows)
    write_batch(batch, out)
    path = write_class_report(out, batch)
    return path, path.read_text(encoding="utf-8"), rows


@pytest.fixture(scope="module")
def report_en(class_rows, report_fr):
    out, rows = class_rows
    copy = out.parent / "class-out-en"
    shutil.copytree(out, copy)  # the same batch, in English, in its own OUT
    batch = _batch("en", rows)
    write_batch(batch, copy)
    path = write_class_report(copy, batch)
    return path, path.read_text(encoding="utf-8"), rows


class _Page(HTMLParser):
    """Links, ids and text of a page; `skip` classes (data from the reports) kept out of `labels`."""

    SKIP = frozenset({"message", "key", "reason", "who"})

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.labels: list[str] = []
        self.text: list[str] = []
        self._stack: list[bool] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("br", "meta", "img", "input", "link", "path", "use", "rect", "line"):
            return
        skip = bool(set((attrs.get("class") or "").split()) & self.SKIP) or tag in ("code", "style", "title")
        self._stack.append(skip or bool(self._stack and self._stack[-1]))

    def handle_endtag(self, tag):
        if tag not in ("br", "meta", "img", "input", "link", "path", "use", "rect", "line") and self._stack:
            self._stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        skipped = self._stack and self._stack[-1]
        self.labels.append("§" if skipped and data.strip() else "" if skipped else data)  # § stands for data


def _expected_groups(out: Path, rows: list[Row]) -> dict[str, dict[str, set[str]]]:
    """checkpoint -> key -> row ids, read from the readable report.json files."""
    groups: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in rows:
        if row.status != GRADED:
            continue
        try:
            report = json.loads((out / row.report_dir / "report.json").read_text(encoding="utf-8"))
        except ValueError:
            continue
        for checkpoint in report["checkpoints"]:
            for check in checkpoint["checks"]:
                if check["outcome"] == "failed":
                    groups[checkpoint["id"]][check["key"]].add(row.id)
    return groups


def _section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start:html.index("</section>", start)]


# --- The page's content -------------------------------------------------------------------------


def test_class_report_counts_and_links(report_fr):
    path, html, rows = report_fr
    out = path.parent
    assert path.name == CLASS_REPORT and not list(out.glob("*.tmp")), "written atomically, nothing left over"
    page = _Page(html)
    text = " ".join(" ".join(page.text).split())
    assert "9 rendus" in text and "7 notés" in text and "2 non notés" in text, text[:600]
    assert "tier offline" in text and "27/11/2026 16:34 UTC" in text
    graded_scores = [r.score for r in rows if r.status == GRADED]
    assert len(graded_scores) == 7
    # Every relative link resolves to a file of OUT; every graded row with a report links it.
    assert page.links
    for href in page.links:
        parts = urlsplit(href)
        assert not parts.scheme and not parts.netloc, f"not a relative link: {href}"
        assert (out / unquote(parts.path)).is_file(), f"broken link {href}"
    for row in rows:
        if row.status == GRADED:
            assert f"{row.report_dir}/report.html" in page.links, row.id
    # Self-contained: no script, no stylesheet or image fetched, no URL but SVG namespaces.
    assert "<script" not in html and "<link" not in html and "<img" not in html and "@import" not in html
    assert not re.findall(r"https?://(?!www\.w3\.org/)", html)
    assert html.count("<svg") == 2


def test_class_report_checkpoints_and_feedback_groups(report_fr):
    path, html, rows = report_fr
    out = path.parent
    # Checkpoints the offline tier cannot verify are shown as such, never counted as failures.
    for checkpoint in CATALOGUE.checkpoints:
        row_html = html[html.index(f'id="cp-{checkpoint.id}"'):]
        row_html = row_html[:row_html.index("</tr>")]
        if "offline" not in checkpoint.tiers:
            assert "non vérifiable par le tier offline" in row_html, checkpoint.id
            assert 'class="n failed"' not in row_html
    # Feedback grouped by key with its count and its submissions, as the reports say.
    expected = _expected_groups(out, rows)
    assert expected["task_run"], "the corpus rows fail task_run"
    checked = 0
    for checkpoint_id, keys in expected.items():
        section = _section(html, f"fb-{checkpoint_id}")
        for key, members in sorted(keys.items(), key=lambda kv: -len(kv[1]))[:3]:
            block = section[section.index(f"<code>{key}</code>"):]
            block = block[:block.index('<div class="group">') if '<div class="group">' in block else len(block)]
            who = re.findall(r'<a href="([^"]+)">([^<]+)</a>', block)
            assert {name for _href, name in who} == members, (checkpoint_id, key)
            assert all(href.endswith(f"#{checkpoint_id}") for href, _name in who)
            before = section[:section.index(f"<code>{key}</code>")]
            count = re.findall(r'class="count">(\d+) rendus?<', before)[-1]
            assert int(count) == len(members), (checkpoint_id, key)
            checked += 1
    assert checked >= 5
    # The two untouched templates fail together: a group of at least 2 for a to-do checkpoint.
    assert any(len(m) >= 2 and {"tpl-bob", "tpl-carol"} <= m for k in expected.values() for m in k.values())


def test_class_report_not_graded_unreadable_and_hostile(report_fr):
    _path, html, _rows = report_fr
    not_graded = html[html.index('id="not-graded"'):html.index('id="submissions"')]
    assert "late-heidi" in not_graded and "délai dépassé" in not_graded and "180 s" in not_graded
    assert "empty-ivan" in not_graded and "fichiers manquants" in not_graded
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;" in not_graded
    assert "<script>" not in html and "<img src=x" not in html
    assert "corrupt-grace" in html and "report.json illisible" in html


def test_class_report_similarity_section(report_fr):
    _path, html, _rows = report_fr
    section = html[html.index('id="similarity"'):]
    table = section[section.index('id="similar-pairs"'):section.index("</table>")]
    pairs = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td class=\"n\">([\d,]+)\u00a0%</td>", table, re.DOTALL)
    names = [set(re.findall(r">([\w-]+)</a>", cell)) for cell, _figure in pairs]
    # The corpus is the reference plus small patches: those are near copies of each other.
    assert {"ref-alice", "ec2-dave"} in names and {"ec2-dave", "busy-frank"} in names
    # Untouched templates have no code of their own: never "similar", even to each other.
    assert not any(n & {"tpl-bob", "tpl-carol"} for n in names)
    figures = [float(f.replace(",", ".")) for _cell, f in pairs]
    assert figures == sorted(figures, reverse=True) and min(figures) >= similarity.THRESHOLD * 100
    assert "n'est pas une preuve" in section and "image_classifier_operations.py" in table


def test_class_report_in_english(report_en):
    _path, html, _rows = report_en
    page = _Page(html)
    labels = " ".join(" ".join(page.labels).split())
    assert "9 submissions" in labels and "Success per checkpoint" in labels and "Similar code" in labels
    assert "2026-11-27 16:34 UTC" in labels and "not verifiable by the offline tier" in labels
    found = sorted({w for w in FRENCH if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", labels, re.IGNORECASE)})
    assert not found, f"French in the English page's labels: {found}"
    glued = "".join(page.labels)  # no space added around the data (in <code>...), which is §
    assert not re.search(r"\S[ \u00a0][:;%]", glued), "French typography in English"
    assert "time limit exceeded" in html and "missing files" in html


# --- Robustness -------------------------------------------------------------------------------


def _synthetic_report(message: str, key: str) -> dict:
    checkpoints = []
    for c in CATALOGUE.checkpoints:
        verified = "offline" in c.tiers
        checkpoints.append({
            "id": c.id, "part": c.part, "part_title": c.part, "step": c.step, "title": c.title("fr"),
            "bonus": c.bonus, "max_points": c.points, "score": 0.0,
            "status": "failed" if verified else "not_graded", "feedback": [message] if verified else [],
            "reason": "" if verified else "non exécuté", "checks": [
                {"nodeid": f"checks/offline/test_{c.id}.py::t", "name": "t", "tier": "offline",
                 "outcome": "failed" if verified else "skipped", "message": message, "key": key}],
        })
    return {"submission": "x", "checkpoints": checkpoints}


@pytest.mark.parametrize("graded_count", [0, 1, 2])
def test_class_report_small_and_hostile_batches(tmp_path, graded_count):
    rows = [Row(id="late", source="late.zip", status=TIMEOUT, reason="trop long")]
    for n in range(graded_count):
        row_id = f'x"><i>{n}'
        (tmp_path / f"r{n}").mkdir()
        (tmp_path / f"r{n}" / "report.json").write_text(json.dumps(_synthetic_report(HOSTILE, f"<k>{n % 1}")))
        (tmp_path / f"r{n}" / "report.html").write_text("<p>report</p>")
        staged = tmp_path / STAGING_DIR / f"r{n}"
        staged.mkdir(parents=True)
        (staged / "s3_io.py").write_text("def broken(:\n" * (n + 1))  # does not parse
        (staged / "image_classifier_operations.py").write_bytes(b"\xff\xfe not utf-8")
        rows.append(Row(id=row_id, source="s", staged=f"{STAGING_DIR}/r{n}", report_dir=f"r{n}", score=0.0,
                        max_score=100.0, graded_max=60.0, bonus=0.0, bonus_max=10.0))
    for lang in ("fr", "en"):
        path = write_class_report(tmp_path, _batch(lang, rows))
        html = path.read_text(encoding="utf-8")
        assert "<i>" not in html and "<script>" not in html
        if graded_count == 0:
            assert ("Aucun rendu noté" if lang == "fr" else "No graded submission") in html
        else:
            assert "<code>&lt;k&gt;0</code>" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
            assert 'href="r0/report.html#stacks"' in html
        if graded_count == 2:  # compared: the file that is not UTF-8 is named, not a crash
            assert ("pas en UTF-8" if lang == "fr" else "not UTF-8") in html


def test_class_report_without_rows(tmp_path):
    html = write_class_report(tmp_path, _batch("fr", [])).read_text(encoding="utf-8")
    assert "<b>0</b>rendus" in html and "Aucun rendu noté" in html
    assert "rien à comparer" in html


def test_similarity_edge_cases(tmp_path):
    template = ROOT / "student_template"
    assert similarity.find_similar({}, template).pairs == []
    assert similarity.find_similar({"a": ROOT / "reference"}, template).compared == 1
    for name, text in {"empty": "", "huge": "x = 1\n" * 200_000, "template": None}.items():
        folder = tmp_path / name
        folder.mkdir()
        for source in template.glob("*.py"):
            (folder / source.name).write_text(source.read_text() if text is None else text)
    found = similarity.find_similar({p.name: p for p in tmp_path.iterdir()} | {"ref": ROOT / "reference"}, template)
    assert found.pairs == [] and found.compared == 1  # only the reference has code of its own
    assert {(row, why) for row, _file, why in found.skipped} == {("huge", "too_big")}


# --- In a real browser -------------------------------------------------------------------------


def _browse(page: Path, profile: Path, *options: str) -> subprocess.CompletedProcess:
    command = [chromium("the class report's browser test"), "--headless=new", "--no-sandbox",
               "--disable-gpu", "--no-first-run",
               f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--hide-scrollbars",
               *options, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                          stdin=subprocess.DEVNULL)


def _console(stderr: str) -> list[str]:
    """What the page wrote to its console: errors, uncaught exceptions, failed loads."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_class_report_in_chromium(report_fr, tmp_path, capsys):
    path, _html, rows = report_fr
    # The detector sees a console error when there is one (so that silence means something).
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><p>x</p><script>missingFunction()</script>", encoding="utf-8")
    assert any("missingFunction" in line for line in _console(_browse(bad, tmp_path / "p0", "--dump-dom").stderr))

    run = _browse(path, tmp_path / "p1", "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    assert not _console(run.stderr), _console(run.stderr)
    dom = run.stdout
    assert dom.count("<svg") == 2 and "<path" in dom and "<text" in dom
    assert 'id="similar-pairs"' in dom and 'id="not-graded"' in dom
    for row in rows:
        if row.status == GRADED and row.id != "corrupt-grace":
            assert f'href="{row.report_dir}/report.html"' in dom, row.id

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTEFACTS / "class-report.png"
    screenshot.unlink(missing_ok=True)
    shot = _browse(path, tmp_path / "p2", f"--screenshot={screenshot}", "--window-size=1280,2400")
    assert shot.returncode == 0 and screenshot.is_file() and screenshot.stat().st_size > 20_000, shot.stderr[-2000:]
    assert not _console(shot.stderr), _console(shot.stderr)
    with capsys.disabled():
        print(f"\nclass report screenshot: {screenshot}")
