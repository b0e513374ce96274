"""Build helpers of the documentation site (``make docs`` runs ``mkdocs build --strict``).

``mkdocs.yml`` uses this file twice:

* As an **MkDocs hooks module** (``hooks:``). A page listed in the navigation that does not
  exist in ``docs/`` yet (pages are written in parallel) gets a short stub in the build output
  only, so a missing page never breaks the build; nothing is written to ``docs/``. The sample
  data README of the example DAGs (``dags_examples/data/README.md``) is published as the page
  ``sample-data.md`` straight from its file, so it is never duplicated.
* As a **griffe extension** (mkdocstrings ``extensions:``). The provider's docstrings are
  Sphinx style. mkdocstrings parses the fields (``:param x:``, ``:return:``, ``:raises E:``) but
  renders the prose as Markdown, so :class:`SphinxToMarkdown` first turns the reStructuredText in
  it into Markdown: cross-reference roles (``:class:`Foo```, ``:meth:`~.a.b```) become links
  to the API reference (plain code where the target is not documented), literal blocks
  (``Example::``) become code blocks, simple tables become Markdown tables and definition lists
  become bullet lists.

Run directly, ``python scripts/build_docs.py [mkdocs build options]`` builds the site in strict
mode from the project root (what ``make docs`` does once the ``docs`` extra is installed).
"""

from __future__ import annotations

import ast
import logging
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import griffe

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("mkdocs.hooks.build_docs")

# ---------------------------------------------------------------------------------------------
# MkDocs hooks
# ---------------------------------------------------------------------------------------------

SAMPLE_DATA_README = ROOT / "dags_examples" / "data" / "README.md"
SAMPLE_DATA_PAGE = "sample-data.md"

STUB = """# {title}

!!! note "This page is not written yet"

    `docs/{path}` does not exist in this checkout, so the site shows this placeholder. It
    appears here as soon as the page is added; build again with `make docs`.
"""


def _nav_pages(nav: Any, title: str | None = None) -> Iterator[tuple[str, str | None]]:
    """``(path, title)`` of every local Markdown page in the ``nav`` setting."""
    if isinstance(nav, str):
        if nav.endswith(".md") and "://" not in nav:
            yield nav, title
    elif isinstance(nav, list):
        for item in nav:
            yield from _nav_pages(item)
    elif isinstance(nav, dict):
        for key, value in nav.items():
            yield from _nav_pages(value, str(key))


class _KwargsParameterFilter(logging.Filter):
    """Drop griffe's warning "No matching parameter for 'x'".

    Operators document the arguments they accept through ``**kwargs`` (passed on to a base
    class), so those names are not in the signature. ``warn_unknown_params: false`` in
    ``mkdocs.yml`` silences the first of griffe's two warnings about this; this filter the second.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "No matching parameter for '" not in record.getMessage()


def on_config(config: Any, **kwargs: Any) -> Any:
    """Install the log filter for griffe's docstring warnings (once per process)."""
    griffe_log = logging.getLogger("mkdocs.plugins.griffe")
    if not any(isinstance(item, _KwargsParameterFilter) for item in griffe_log.filters):
        griffe_log.addFilter(_KwargsParameterFilter())
    return config


def on_files(files: Any, config: Any, **kwargs: Any) -> Any:
    """Add the sample-data page and a stub for every navigation page that does not exist."""
    from mkdocs.structure.files import File

    if files.get_file_from_path(SAMPLE_DATA_PAGE) is None and SAMPLE_DATA_README.is_file():
        files.append(File.generated(config, SAMPLE_DATA_PAGE, abs_src_path=str(SAMPLE_DATA_README)))
    for path, title in _nav_pages(config.nav or []):
        if files.get_file_from_path(path) is None:
            name = title or Path(path).stem.replace("-", " ").capitalize()
            log.info("docs/%s does not exist yet; the site gets a placeholder page instead.", path)
            files.append(File.generated(config, path, content=STUB.format(title=name, path=path)))
    return files


# ---------------------------------------------------------------------------------------------
# griffe extension: reStructuredText in Sphinx-style docstrings -> Markdown
# ---------------------------------------------------------------------------------------------

ROLE = re.compile(r":(?:py:)?(?P<role>class|func|meth|mod|attr|data|exc|obj|const):`(?P<text>[^`]+)`")
LIST_ITEM = re.compile(r"^(\s*)([*+-]|\d+[.)])\s+\S")
FENCE = re.compile(r"^\s*(```|~~~)")
TABLE_BORDER = re.compile(r"^=+( +=+)+\s*$")
DEFINITION_TERM = re.compile(r"^``[^`]+``$")
FIELD = re.compile(
    r"^:(param|parameter|arg|argument|key|keyword|type|raises?|except|exception|returns?|rtype|var|ivar|cvar|vartype)\b"
)

Resolver = Callable[[str], "str | None"]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def convert_roles(text: str, resolve: Resolver) -> str:
    """Turn Sphinx cross-reference roles into autorefs links (optional: unresolved → code)."""

    def replace(match: re.Match[str]) -> str:
        role, body = match["role"], match["text"].strip()
        explicit = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^<>]+)>", body)
        target = explicit["target"] if explicit else body
        short = target.startswith("~")
        target = target.lstrip("~")
        if explicit:
            title = explicit["title"]
        else:
            title = target.lstrip(".")
            if short:
                title = title.rsplit(".", 1)[-1]
            if role in {"func", "meth"}:
                title += "()"
        path = resolve(target)
        if path is None:
            return f"<code>{_html(title)}</code>"
        return f'<autoref identifier="{path}" optional><code>{_html(title)}</code></autoref>'

    return ROLE.sub(replace, text)


def _fence(block: list[str]) -> list[str]:
    """A literal block as a fenced code block (Python highlighting when it parses as Python)."""
    while block and not block[-1].strip():
        block.pop()
    margin = min((_indent(line) for line in block if line.strip()), default=0)
    body = [line[margin:] for line in block]
    try:
        ast.parse("\n".join(body))
        language = "python"
    except SyntaxError:
        language = "text"
    return [f"```{language}", *body, "```"]


def _simple_table(lines: list[str]) -> list[str] | None:
    """An RST simple table (``===  ===`` borders) as a Markdown table, or ``None``."""
    border = lines[0]
    spans = [(m.start(), m.end()) for m in re.finditer(r"=+", border)]
    rows: list[list[str]] = []
    for line in lines[1:]:
        if TABLE_BORDER.match(line):
            continue
        # A cell's text may run past its border (a long literal); the cell then ends at the next space.
        starts = [spans[0][0]]
        for start, _end in spans[1:]:
            start = max(start, starts[-1])
            while 0 < start < len(line) and line[start - 1] != " ":
                start += 1
            starts.append(start)
        stops = [*starts[1:], len(line)]
        rows.append([line[a:b].strip().replace("|", "\\|") for a, b in zip(starts, stops, strict=True)])
    if len(rows) < 2:
        return None
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(spans)]
    out += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return out


def convert_blocks(text: str) -> str:
    """Literal blocks, simple tables, definition lists and list spacing, outside code fences.

    Field lists (``:param x: ...``) are left alone: griffe's Sphinx parser reads them.
    """
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    in_fence = False
    in_fields = False
    while i < len(lines):
        line = lines[i]
        if FENCE.match(line):
            in_fence = not in_fence
            out.append(line)
            i += 1
            continue
        if in_fence:
            out.append(line)
            i += 1
            continue
        if FIELD.match(line):
            in_fields = True
        elif line.strip() and _indent(line) == 0:
            in_fields = False
        # RST simple table: border, header, border, rows..., border.
        if TABLE_BORDER.match(line) and not in_fields:
            end = i + 1
            borders = 1
            while end < len(lines) and lines[end].strip() and borders < 3:
                borders += bool(TABLE_BORDER.match(lines[end]))
                end += 1
            table = _simple_table(lines[i:end]) if borders == 3 else None
            if table:
                if out and out[-1].strip():
                    out.append("")
                out += table
                i = end
                continue
        # Literal block: a paragraph ending in "::" followed by an indented block.
        if line.rstrip().endswith("::") and not line.lstrip().startswith(":"):
            base = _indent(line)
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and _indent(lines[j]) > base:
                block = []
                while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > base):
                    block.append(lines[j])
                    j += 1
                stripped = line.rstrip()[:-2].rstrip()
                if stripped:
                    out.append(stripped + ("" if stripped.endswith(":") else ":"))
                out.append("")
                out += [" " * base + fenced for fenced in _fence(block)]
                out.append("")
                i = j
                continue
        # Definition list: a term line (a code literal) followed by indented definition lines.
        if (
            not in_fields
            and DEFINITION_TERM.match(line.strip())
            and i + 1 < len(lines)
            and lines[i + 1].strip()
            and _indent(lines[i + 1]) > _indent(line)
        ):
            j = i + 1
            definition = []
            while j < len(lines) and lines[j].strip() and _indent(lines[j]) > _indent(line):
                definition.append(lines[j].strip())
                j += 1
            if out and out[-1].strip() and not out[-1].lstrip().startswith("* "):
                out.append("")
            out.append(f"{' ' * _indent(line)}* {line.strip()}: " + " ".join(definition))
            i = j
            continue
        # Markdown needs a blank line between a paragraph and a list that follows it.
        if not in_fields and LIST_ITEM.match(line) and out and out[-1].strip():
            previous = out[-1]
            if not LIST_ITEM.match(previous) and _indent(previous) <= _indent(line):
                out.append("")
        out.append(line)
        i += 1
    return "\n".join(out)


def _objects(obj: Any) -> Iterator[Any]:
    """``obj`` and every object defined in it (aliases, i.e. imported names, are skipped)."""
    yield obj
    for member in obj.members.values():
        if member.is_alias:
            continue
        if member.is_module or member.is_class or member.is_function or member.is_attribute:
            yield from _objects(member)


class SphinxToMarkdown(griffe.Extension):
    """Rewrite the reStructuredText parts of Sphinx-style docstrings as Markdown (see module doc)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        objects = list(_objects(pkg))
        paths = {obj.path for obj in objects}
        for obj in objects:
            if obj.docstring is not None and obj.docstring.value:
                resolve = self._resolver(obj, paths, loader)
                obj.docstring.value = convert_blocks(convert_roles(obj.docstring.value, resolve))

    @staticmethod
    def _resolver(obj: Any, paths: set[str], loader: griffe.GriffeLoader) -> Resolver:
        def canonical(path: str) -> str | None:
            try:
                found = loader.modules_collection.get_member(path)
            except Exception:
                found = None
            if found is None:
                return path if path in paths else None
            try:
                return found.final_target.path if found.is_alias else found.path
            except Exception:
                return None

        def resolve(target: str) -> str | None:
            name = target.lstrip(".")
            if not name:
                return None
            if not target.startswith("."):
                if name in paths:
                    return name
                first, _, rest = name.partition(".")
                scope = obj if (obj.is_class or obj.is_module) else obj.parent
                try:
                    base = scope.resolve(first)
                except Exception:
                    base = None
                if base:
                    found = canonical(f"{base}.{rest}" if rest else base)
                    if found:
                        return found
            # Sphinx semantics for ".name" (and the fallback): a unique object whose path ends so.
            matches = sorted(path for path in paths if path.endswith("." + name))
            return matches[0] if len(matches) == 1 else None

        return resolve


def main(argv: list[str]) -> int:
    """Build the site in strict mode (the same as ``make docs`` without the install step)."""
    import os
    import subprocess
    import time

    started = time.perf_counter()
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", *argv]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's end-of-life banner, see mkdocs.yml
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    print(f"mkdocs build finished in {time.perf_counter() - started:.1f}s (exit status {result.returncode}).")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
