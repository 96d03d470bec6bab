"""The package layout: imports point one way (docs/CONVENTIONS.md, "Packages").

Read from the source with ``ast`` (nothing is imported), every ``import`` statement counts,
including those inside functions:
    common  <-  wavegan  <-  ciwgan
    common  <-  corpus   <-  ciwgan     (the training loop reads the prepared TFRecords)
    common, wavegan, ciwgan, corpus  <-  extraction
    common  <-  analysis            (statistics only: no TensorFlow)
Scripts, bench/ and tests/ may import any package.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ALLOWED = {
    "common": set(),
    "wavegan": {"common"},
    "ciwgan": {"common", "wavegan", "corpus"},
    "corpus": {"common"},
    "extraction": {"common", "wavegan", "ciwgan", "corpus"},
    "analysis": {"common"},
    # test and benchmark data; the activations schema lazily, to write Parquet
    "synthetic": {"common", "extraction"},
}
TENSORFLOW = {"tensorflow", "keras", "tensorflow_io"}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path = ROOT) -> set:
    """Absolute module names imported by a file (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            # `from pkg import module` imports a module of the package too.
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def package_files():
    for package in ALLOWED:
        yield from sorted((ROOT / package).rglob("*.py"))


def local_modules() -> set:
    return {module_name(p) for p in package_files()}


def test_every_package_exists():
    for package in ALLOWED:
        assert (ROOT / package / "__init__.py").is_file(), package


def test_imports_point_one_way():
    wrong = []
    for path in package_files():
        own = module_name(path).split(".")[0]
        for name in imports_of(path):
            top = name.split(".")[0]
            if top in ALLOWED and top != own and top not in ALLOWED[own]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "imports that point back up:\n" + "\n".join(sorted(set(wrong)))


def test_analysis_has_no_tensorflow():
    wrong = [f"{p.relative_to(ROOT)} imports {name}"
             for p in sorted((ROOT / "analysis").rglob("*.py"))
             for name in imports_of(p) if name.split(".")[0] in TENSORFLOW]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    modules = local_modules()
    graph = {}
    for path in package_files():
        me = module_name(path)
        graph[me] = {name for name in imports_of(path)
                     if name in modules and name != me
                     and not me.startswith(name + ".")}  # a module importing its own package
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_reader_sees_function_level_and_relative_imports(tmp_path):
    """The rules above can fail: an import inside a function and a relative one are read."""
    for pkg in ("wavegan", "ciwgan"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "wavegan" / "a.py").write_text("def f():\n    from ciwgan import b\n")
    (tmp_path / "ciwgan" / "b.py").write_text("from ..wavegan import a\nfrom . import c\n")
    assert "ciwgan.b" in imports_of(tmp_path / "wavegan" / "a.py", tmp_path)
    assert imports_of(tmp_path / "ciwgan" / "b.py", tmp_path) >= {"wavegan.a", "ciwgan.c"}


# --------------------------------------------------------------------------------------------
# Names, schemas and record versions (issue 24)
# --------------------------------------------------------------------------------------------
NAMED_PLACES = list(ALLOWED) + ["bench", "tools"]


def test_no_two_modules_share_a_name():
    """A module's name says what it is: no two project modules (the packages, bench/, tools/
    and the scripts at the top) have the same file name."""
    seen = {}
    for place in NAMED_PLACES:
        for path in sorted((ROOT / place).rglob("*.py")):
            if path.name != "__init__.py":
                seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    for path in sorted(ROOT.glob("*.py")):
        seen.setdefault(path.name, []).append(path.name)
    clashes = {name: where for name, where in seen.items() if len(where) > 1}
    assert not clashes, clashes


def test_no_library_code_reads_the_command_line():
    """Only the scripts read sys.argv (the library gets options objects)."""
    readers = []
    for path in package_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "argv" and \
                    isinstance(node.value, ast.Name) and node.value.id == "sys":
                readers.append(str(path.relative_to(ROOT)))
    # common/cli.py names the script's module for absl's --help; common/logs.py reads
    # --verbose before absl parses (TensorFlow's logging must be set before it is imported);
    # common/lock.py records the command holding a folder
    assert set(readers) <= {"common/cli.py", "common/logs.py", "common/lock.py"}, readers


def test_the_long_tables_are_declared_once():
    """Writer (extraction.schema) and readers (analysis.columns, analysis.gamm.data) use the
    columns of common.layout."""
    from analysis.columns import LABEL_COLUMNS
    from analysis.gamm.data import PHONE_COLUMNS, WORD_COLUMNS
    from common import layout
    from extraction import schema
    for stem, table in layout.LONG_TABLES.items():
        assert tuple(schema.LONG_TABLES[stem].names) == table.names
    assert set(WORD_COLUMNS) <= set(layout.LONG_TABLES[layout.ACTIVATIONS].names)
    assert set(PHONE_COLUMNS) <= set(layout.LONG_TABLES[layout.PHONE_ACTIVATIONS].names)
    assert LABEL_COLUMNS == ("word", "speaker", "layer", "phone")


def test_conventions_name_the_manifest_columns():
    import re
    from common import layout
    text = (ROOT / "docs" / "CONVENTIONS.md").read_text(encoding="utf-8")
    m = re.search(r"- `manifest.csv`: ([^\n]+(?:\n  [^\n]+)*)", text)
    listed = [c.strip(" .`") for c in re.split(r",\s*", m.group(1).split("(")[0])]
    assert listed == list(layout.MANIFEST.names), listed


def test_records_carry_a_version_checked_on_read(tmp_path):
    import json

    import pytest
    from common import layout
    record = layout.stamp({"a": 1}, layout.EXTRACT_INFO_JSON)
    assert record == {"format_version": 1, "a": 1}
    path = tmp_path / layout.EXTRACT_INFO_JSON
    path.write_text(json.dumps({"a": 1}))                       # written before versions
    assert layout.read_record(str(path)) == {"a": 1}
    path.write_text(json.dumps({"format_version": 2, "a": 1}))  # by a newer version
    with pytest.raises(layout.RecordVersionError,
                       match=r"^\S+extract_info.json: format_version 2 was written by a newer "
                             r"version of this tool \(this one reads up to 1\)"):
        layout.read_record(str(path))
    path.write_text(json.dumps({"format_version": "x"}))
    with pytest.raises(layout.RecordVersionError, match="not a version number"):
        layout.read_record(str(path))


MAX_MODULE_LINES = 500


def test_no_module_over_500_lines():
    """Small modules (issue 24): no .py file outside tests/ over MAX_MODULE_LINES lines."""
    long = set()
    tops = [p for p in ROOT.iterdir() if p.is_dir() and not p.is_symlink()
            and p.name not in ("tests", "work") and not p.name.startswith(".")]
    paths = list(ROOT.glob("*.py")) + [p for top in tops for p in top.rglob("*.py")]
    for path in sorted(paths):
        rel = path.relative_to(ROOT)
        with open(path, encoding="utf-8") as f:
            if sum(1 for _ in f) > MAX_MODULE_LINES:
                long.add(rel.as_posix())
    assert not long, sorted(long)
