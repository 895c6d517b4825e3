"""What README.md and docs/ name exists: module paths, Python names, CLI subcommands and flags, make targets."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from cryolatent.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
REPO_TOPS = ("cryolatent/", "tests/", "notebooks/", "bench/", "docs/", ".ci/")
REPO_FILES = ("data_manifest.yaml", "environment.yml", "Makefile", "pyproject.toml")
# outputs that commands make (git-ignored): named in the docs, absent from a clone
OUTPUTS = tuple(line[1:].rstrip("/") for line in (ROOT / ".gitignore").read_text().split() if line.startswith("/"))


def _spans(text: str) -> list[str]:
    """Inline code spans and the lines of fenced code blocks."""
    blocks = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
    rest = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.findall(r"`([^`\n]+)`", rest) + [line for b in blocks for line in b.splitlines()]


def _subparsers() -> dict:
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return dict(action.choices)


def _problems(path: Path) -> list[str]:
    text = path.read_text()
    subs = _subparsers()
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.M))
    found = []
    for span in _spans(text):
        for token in re.findall(r"[\w./-]+", span):
            token = token.rstrip(".,")
            if (token.startswith(REPO_TOPS) or token in REPO_FILES) and not token.startswith(OUTPUTS):
                if not list(ROOT.glob(token + "*")):
                    found.append(f"path {token}")
        for name in re.findall(r"\bcryolatent(?:\.\w+)+", span):
            parts = name.split(".")
            try:
                obj = importlib.import_module(parts[0])
                for i, attr in enumerate(parts[1:], start=1):
                    try:
                        obj = getattr(obj, attr)
                    except AttributeError:
                        obj = importlib.import_module(".".join(parts[: i + 1]))
            except ImportError:
                found.append(f"python name {name}")
        for cmd in re.split(r"[|;&]+", span):
            words = cmd.split()
            if "cryolatent" in words[:3] and words.index("cryolatent") + 1 < len(words):
                i = words.index("cryolatent")
                sub = words[i + 1]
                if sub.startswith("-") or sub.rstrip(":") in ("CMD", "..."):
                    continue
                if words[i - 1:i] and words[i - 1].endswith("import"):
                    continue
                if sub not in subs:
                    found.append(f"subcommand {sub!r} in `{span}`")
                    continue
                options = set(subs[sub]._option_string_actions)
                for flag in re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", " ".join(words[i + 2:])):
                    if flag not in options:
                        found.append(f"flag {flag} of `cryolatent {sub}` in `{span}`")
        for target in re.findall(r"^make ([\w-]+)", span):
            if target not in targets:
                found.append(f"make target {target}")
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_what_the_docs_name_exists(doc):
    assert _problems(doc) == []


def test_the_check_catches_a_wrong_name(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_text("Run `cryolatent train P --no-such-flag`, `cryolatent nosuch`, see `cryolatent/nothing.py`, "
                   "call `cryolatent.tl.no_function` and `make nosuch`.\n")
    problems = _problems(bad)
    assert len(problems) == 5, problems
