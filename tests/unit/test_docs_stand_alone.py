"""The repository documents itself: no tracked file points at documents that live outside it, and
every test, doc page or Markdown link that a file cites exists.

Someone who clones the repository has only what is in it: the API contract is /openapi.json
(docs/openapi.json) and the pages in docs/.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()  # it names the patterns it looks for

# Documents outside the repository, by the names they were cited with.
OUTSIDE_NAMES = ("../shared", "shared/SPEC", "SPEC.md", "DESIGN.md", "AWS-NOTES")
# ... and citations of their sections ("SPEC 4", "SPEC §2", "SPEC section 6").
OUTSIDE_SECTION = re.compile(r"\bSPEC\s*(?:§|section|\d)")
# A cited test module or doc page: tests/unit/test_x.py, tests/integration/test_ingest_*.py, docs/api.md.
CITED_PATH = re.compile(r"(?<![\w./-])(?:tests|docs)/[\w./*-]*\.(?:py|md)\b")
# A relative Markdown link target: [text](target) or ![alt](target "title").
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


@cache
def tracked_text_files() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(path, lines) of every tracked file that is text (no NUL byte), except this one."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout: {exc}")
    files = []
    for name in sorted(filter(None, listed.split("\0"))):
        path = ROOT / name
        if name == THIS_FILE or not path.is_file():  # a tracked file deleted in the work tree
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        files.append((name, tuple(data.decode("utf-8", "replace").splitlines())))
    assert files, "git ls-files listed no text file"
    return tuple(files)


def _lines() -> list[tuple[str, int, str]]:
    return [(name, number, line) for name, lines in tracked_text_files() for number, line in enumerate(lines, 1)]


def test_no_tracked_file_points_outside_the_repository():
    found = [
        f"{name}:{number}: {line.strip()}"
        for name, number, line in _lines()
        if any(outside in line for outside in OUTSIDE_NAMES) or OUTSIDE_SECTION.search(line)
    ]
    assert not found, (
        "these lines point at documents outside the repository; point at docs/api.md, docs/sales-files.md, "
        "docs/program.md, docs/cli.md or docs/kpis.md instead:\n" + "\n".join(found)
    )


def _exists(cited: str) -> bool:
    return any(ROOT.glob(cited)) if "*" in cited else (ROOT / cited).exists()


def test_every_cited_test_and_doc_page_exists():
    missing = [
        f"{name}:{number}: {cited}"
        for name, number, line in _lines()
        for cited in CITED_PATH.findall(line)
        if not _exists(cited)
    ]
    assert not missing, "these lines cite a test or a doc page that does not exist:\n" + "\n".join(missing)


def test_relative_markdown_links_resolve():
    broken = []
    for name, lines in tracked_text_files():
        if not name.endswith(".md"):
            continue
        folder = (ROOT / name).parent
        for number, line in enumerate(lines, 1):
            for target in MARKDOWN_LINK.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:|^#", target):  # a URL, mailto:, or an anchor in the page
                    continue
                if not (folder / target.split("#", 1)[0]).exists():
                    broken.append(f"{name}:{number}: {target}")
    assert not broken, "these Markdown links lead nowhere:\n" + "\n".join(broken)


@pytest.mark.parametrize("cited", ["tests/unit/test_docs_stand_alone.py", "tests/unit/test_*.py", "docs/api.md"])
def test_cited_paths_are_recognised(cited):
    assert CITED_PATH.findall(f"see `{cited}`.") == [cited]
    assert _exists(cited)
