"""The house's rules, read from the source files alone (no app, no database): who may commit, no import circle,
no overgrown domain module, and a README whose Layout section is the tree's.

- Transactions end with their writes kept only in models/transaction.py (`unit()`: a request, as
  blueprints/boundary.py runs each view; a job's item, as domain/jobs/runner.py runs each; a CLI command); views
  and the domain write, and raise to refuse.
- The modules of app.py, blueprints/, domain/ and models/ import each other without a circle, at module level or
  inside functions.
- No module of domain/ has more than MAX_LINES lines: a bigger one becomes a package of one concern per module.
- README.md's Layout section is what scripts/layout.py generates.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("blueprints", "domain", "models")
MAX_LINES = 500
#: `commit(` as a call of its own: `transaction.commit()`, `db.session.commit()`; not `before_commit(` or
#: `after_commit(` (hooks that run around the boundary's commit).
COMMIT = re.compile(r"(?<![\w])commit\(")


def _sources(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_views_the_domain_and_the_jobs_never_commit_themselves():
    found = [f"{_relative(path)}:{number}: {line.strip()}"
             for path in _sources("blueprints", "domain")
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if COMMIT.search(line)]
    assert not found, ("Views, the domain and the jobs never commit: each request (blueprints/boundary.py) and each "
                       "job item (domain/jobs/runner.py) runs in models.transaction.unit(); a view that shows a "
                       "refusal itself calls transaction.abandon().\n" + "\n".join(found))


def _modules() -> dict[str, Path]:
    """Every module of the app, by dotted name (a package by its own name, for its __init__.py)."""
    modules = {"app": ROOT / "app.py"}
    for path in _sources(*LAYERS):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The app's modules that `name` imports, anywhere in it (functions too). `from pkg import x` imports pkg.x when
    that is a module, else pkg; importing a submodule is not counted as importing its parent packages."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    wanted: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            wanted.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                wanted.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    found = set()
    for target in wanted:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def import_circles() -> list[list[str]]:
    """The strongly connected groups of more than one module in the import graph (Tarjan's algorithm, iterative)."""
    modules = _modules()
    graph = {name: sorted(_imported(name, path, modules)) for name, path in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph[target])))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        circles.append(sorted(group))
    return circles


def test_no_import_circle():
    circles = import_circles()
    assert not circles, ("Imports point one way (blueprints → domain → models) and never in a circle; these modules "
                         "import each other:\n" + "\n".join(" ↔ ".join(group) for group in circles))


def test_no_domain_module_is_over_500_lines():
    long = {_relative(path): count for path in _sources("domain")
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, (f"A domain module of more than {MAX_LINES} lines mixes concerns: split it into a package "
                      f"(domain/market/ with one module per concern): {long}")


def _layout():
    spec = importlib.util.spec_from_file_location("layout", ROOT / "scripts" / "layout.py")
    layout = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(layout)
    return layout


def test_the_readme_layout_is_the_tree():
    layout = _layout()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = layout.section(readme)
    assert readme[start:end].rstrip("\n") == layout.generate(ROOT).rstrip("\n"), (
        f"README.md's Layout section is not the tree's: run `{layout.COMMAND}` (or `make layout`) and commit it.")


def test_the_layout_lists_packages_with_their_modules(tmp_path):
    """A package (domain/market/ split into modules) is listed with its own docstring, then each module's."""
    for layer in ("blueprints", "models"):
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "__init__.py").write_text(f'"""The {layer}."""\n')
    market = tmp_path / "domain" / "market"
    market.mkdir(parents=True)
    (tmp_path / "domain" / "__init__.py").write_text('"""Rules. More here."""\n')
    (market / "__init__.py").write_text('"""The points market, e.g. rewards: one module per concern.\n\nMore."""\n')
    (market / "redemption.py").write_text('"""Redeeming a reward.\n\nWhy it is so."""\n')
    (tmp_path / "domain" / "paging.py").write_text("X = 1\n")
    text = _layout().generate(tmp_path)
    assert ("- `domain/` — Rules.\n"
            "  - `market/` — The points market, e.g. rewards: one module per concern.\n"
            "    - `redemption.py` — Redeeming a reward.\n"
            "  - `paging.py`\n") in text
