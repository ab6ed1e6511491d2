"""The repository cites only what it has: no specification, research note or reference file that
lives outside it, and every link to ``docs/*.md`` (and every ``§Section`` of one) exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: generated, installed or cached trees (as in .gitignore), never the repository's own text
SKIP_DIRS = {
    ".git", ".venv", "build", "dist", "out", "__pycache__", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", ".hypothesis",
}  # fmt: skip
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".txt", ".service"}
#: files the lead rewrites in parallel (issue 14): each still cites, and leaves this list once fixed

#: the documents of the project's private workspace that the repository does not ship
OUTSIDE_DOCS = (
    "SPEC", "control", "chargers", "han-p1", "anchors", "ocpp", "tariffs", "integration",
    "phase-switching", "style", "ARCHITECTURE",
)  # fmt: skip
#: ``SPEC §5``, ``SPEC.md``, ``(SPEC)``: the specification cited by name (not ``SPEC_SITE``)
SPEC = re.compile(r"\bSPEC\b(?!_)")
#: folders of the workspace: ``reference/chargers.md``, ``research/han-p1.md``
WORKSPACE_DIR = re.compile(r"(?<![\w.-])(?:reference|research)/")
#: a mention of one of those documents, with whatever path is written before it
DOC_MENTION = re.compile(
    r"(?<![\w.-])((?:[\w.-]+/)*)(" + "|".join(map(re.escape, OUTSIDE_DOCS[1:])) + r")\.md\b"
)
#: any path to a repository doc: ``docs/control.md``, optionally with `` §Section``
DOCS_PATH = re.compile(r"(?<![\w.-])docs/([\w.-]+\.md)(?:\s+§(?=\w)([^\n]*))?")
#: a markdown link to a .md file: ``[text](control.md#anchor)``
MD_LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#([^)\s]*))?\)")
#: ``owner/repo docs/x.md``: a file of another project, cited as its source (not ours)
OTHER_PROJECT = re.compile(r"[\w-]+/[\w.-]+\s+$")


def repository_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in parts):
            continue
        if path.is_file() and (path.suffix in TEXT_SUFFIXES or path.name == "Makefile"):
            files.append(path)
    return sorted(files)


def headings(doc: Path) -> list[str]:
    return [
        line.lstrip("#").strip()
        for line in doc.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    ]


def anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _continued(text: str, end: int) -> str:
    """The rest of the line after ``end`` and the next line, without comment markers (a section
    name may wrap)."""
    lines = text[end:].split("\n", 2)
    rest = lines[0]
    if len(lines) > 1:
        rest += " " + re.sub(r"^\s*(?:#:?|//|\*)?\s*", "", lines[1])
    return rest


def citation_problems(text: str, where: Path) -> list[str]:
    """Every citation in ``text`` (a file at ``where``) of something the repository lacks."""
    problems = [f"cites the specification: {m.group(0)!r}" for m in SPEC.finditer(text)]
    problems += [f"cites a workspace folder: {m.group(0)!r}" for m in WORKSPACE_DIR.finditer(text)]
    for m in DOC_MENTION.finditer(text):
        written = m.group(1) + m.group(2) + ".md"
        if not any((base / written).is_file() for base in (ROOT, where.parent)):
            problems.append(f"cites a file the repository lacks: {written!r}")
    for m in DOCS_PATH.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if OTHER_PROJECT.search(text[line_start : m.start()]):
            continue
        doc = DOCS / m.group(1)
        if not doc.is_file():
            problems.append(f"links a missing doc: docs/{m.group(1)}")
        elif m.group(2) is not None:
            section = _continued(text, m.start(2))
            if not any(section.startswith(heading) for heading in headings(doc)):
                problems.append(f"cites a section docs/{m.group(1)} lacks: §{m.group(2)}")
    for m in MD_LINK.finditer(text):
        target = (where.parent / m.group(1)).resolve()
        if "://" in m.group(1):
            continue
        if not target.is_file():
            problems.append(f"links a missing file: {m.group(1)}")
        elif m.group(2) and m.group(2) not in {anchor(h) for h in headings(target)}:
            problems.append(f"links a missing section: {m.group(1)}#{m.group(2)}")
    return problems


def test_no_file_cites_what_the_repository_does_not_have() -> None:
    problems = []
    for path in repository_files():
        name = path.relative_to(ROOT).as_posix()
        if path == Path(__file__).resolve():
            continue
        for problem in citation_problems(path.read_text(encoding="utf-8", errors="replace"), path):
            problems.append(f"{name}: {problem}")
    assert problems == []


def test_the_readme_links_the_architecture_map() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/ARCHITECTURE.md)" in readme
    assert (DOCS / "ARCHITECTURE.md").is_file()


def test_the_check_sees_each_kind_of_citation() -> None:
    where = ROOT / "README.md"
    bad = {
        "the rules of SPEC §5": "specification",
        "see reference/han-p1.md §5": "workspace folder",
        "(control.md §1.4)": "lacks: 'control.md'",
        "UNVERIFIED (chargers.md): x": "lacks: 'chargers.md'",
        "(docs/nothing.md)": "missing doc",
        "docs/control.md §No such section": "section docs/control.md lacks",
        "[x](docs/control.md#no-such-anchor)": "missing section",
        "[x](docs/gone.md)": "missing file",
    }
    for text, expected in bad.items():
        problems = citation_problems(text, where)
        assert any(expected in problem for problem in problems), (text, problems)
    good = (
        "SPEC_SITE = {}\n"
        "docs/control.md §The overload budget\n"
        "# docs/control.md §B and C miniature\n#   circuit breakers\n"
        "[map](docs/ARCHITECTURE.md#walls)\n"
        "tomwellnitz/Webasto-Next-Modbus docs/architecture.md\n"
    )
    assert citation_problems(good, where) == []
    # inside docs/ a bare name is a link beside it
    assert citation_problems("[c](control.md#fuses) and chargers.md", DOCS / "x.md") == []
