"""One command-line vocabulary across the scripts (issue 13).

The vocabulary has one home, the "Command-line vocabulary" section of docs/CONVENTIONS.md:
this test reads its three tables (the shared flags and the scripts that have them, the original
names train.py keeps, the deprecated names) and checks every script against them through
absl's ``--helpxml`` (which lists every flag with its type and defining module).  It also runs
each deprecated name (accepted, one-line notice, copied onto the new name) and a bad flag in
every script (one line, exit status 2).
"""

import functools
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONVENTIONS = os.path.join(ROOT, "docs", "CONVENTIONS.md")

# script name (as in the tables and in its messages) -> command line after the interpreter
SCRIPTS = {name: [os.path.join(ROOT, name)] for name in (
    "prepare.py", "train.py", "generate.py", "extract.py", "analyze.py", "demo.py")}
SCRIPTS["corpus.demo_corpus"] = ["-m", "corpus.demo_corpus"]
REPO_FOLDER = os.path.join(ROOT, "analysis")     # an output there is refused as bad input
# docs table type -> absl --helpxml <type>
XML_TYPES = {"string": "string", "int": "int", "float": "float", "bool": "bool",
             "list": "comma separated list of strings"}


def run(script, *args, cwd=ROOT, timeout=300):
    """Run a script from ``cwd`` (a run that writes nothing leaves a temporary cwd empty)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, *SCRIPTS[script], *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _flag(cell):
    """'`--out`' -> 'out' (the first backticked flag of a cell)."""
    m = re.search(r"`--([a-z_]+)", cell)
    assert m, cell
    return m.group(1)


@functools.lru_cache(maxsize=None)
def vocabulary_tables():
    """{first header cell: [row cells]} of the tables in the vocabulary section."""
    text = open(CONVENTIONS, encoding="utf-8").read()
    m = re.search(r"^## Command-line vocabulary\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, "docs/CONVENTIONS.md has no 'Command-line vocabulary' section"
    tables, header = {}, None
    for line in m.group(1).splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = _cells(line)
        if header is None:
            header = cells[0]
            tables[header] = []
        elif not set(line.replace("|", "").strip()) <= set("-: "):
            tables[header].append(cells)
    return tables


def shared_flags():
    """[(flag, type, [scripts])] of the shared-vocabulary table."""
    return [(_flag(r[0]), r[1], [s.strip() for s in r[3].split(",")])
            for r in vocabulary_tables()["flag"]]


def deprecated_flags():
    """[(old, new, script)]; new is the flag given in the 'use' column ('nofigures' for a
    negated boolean)."""
    return [(_flag(r[0]), _flag(r[1]), s.strip())
            for r in vocabulary_tables()["deprecated"] for s in r[2].split(",")]


@functools.lru_cache(maxsize=None)
def script_flags(script):
    """{name: {'type', 'meaning', 'enum'}} of the script's own flags (absl's left out)."""
    proc = run(script, "--helpxml", timeout=120)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]       # absl exits 1 after --helpxml
    root = ET.fromstring(proc.stdout[proc.stdout.index("<?xml"):])
    out = {}
    for f in root.iter("flag"):
        if f.findtext("file", "").startswith("absl."):
            continue
        out[f.findtext("name")] = {"type": f.findtext("type"), "meaning": f.findtext("meaning"),
                                   "enum": [e.text for e in f.findall("enum_value")]}
    return out


def test_the_tables_are_there():
    names = {f for f, _, _ in shared_flags()}
    assert {"data", "checkpoint", "out", "batch_size", "normalize", "overwrite", "progress",
            "seed", "codes", "value", "n_per_code"} <= names
    assert {s for _, _, scripts in shared_flags() for s in scripts} == set(SCRIPTS)
    assert ("out_dir", "out", "prepare.py") in deprecated_flags()
    assert [_flag(r[0]) for r in vocabulary_tables()["original name"]] == [
        "data_dir", "train_batch_size", "data_normalize"]


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_shared_flags_exist_with_their_type(script):
    have = script_flags(script)
    problems = []
    for name, kind, scripts in shared_flags():
        if script not in scripts:
            continue
        if name not in have:
            problems.append(f"--{name} missing")
            continue
        if kind.startswith("enum:"):
            want = [v.strip() for v in kind[len("enum:"):].split(",")]
            if have[name]["type"] != "string enum" or have[name]["enum"] != want:
                problems.append(f"--{name}: {have[name]['type']} {have[name]['enum']}, "
                                f"expected enum {want}")
        elif have[name]["type"] != XML_TYPES[kind]:
            problems.append(f"--{name}: {have[name]['type']}, expected {kind}")
    assert not problems, f"{script}: " + "; ".join(problems)


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_old_names_are_only_deprecated_aliases(script):
    """A renamed flag survives only as its alias (help text 'deprecated: use --new'); a
    script has no flag of its own under a name the vocabulary replaced."""
    have = script_flags(script)
    problems = []
    for old, new, owner in deprecated_flags():
        if old in have and "deprecated" not in (have[old]["meaning"] or ""):
            problems.append(f"--{old} should be only a deprecated alias of --{new}")
        if owner == script and old not in have:
            problems.append(f"the deprecated --{old} must still be accepted")
    assert not problems, f"{script}: " + "; ".join(sorted(set(problems)))


def test_train_keeps_the_original_names():
    have = script_flags("train.py")
    for row in vocabulary_tables()["original name"]:
        original = _flag(row[0])
        assert original in have and "deprecated" not in (have[original]["meaning"] or "")
    assert "train_dir" in have


# One run per deprecated name.  Every run gives the script its required flags with values
# that fail as bad input after the aliases are applied (a missing checkpoint or activations
# folder, or an output in the repository), so nothing is written and no model is loaded.
def _required(script, tmp_path):
    missing = str(tmp_path / "missing")
    return {"prepare.py": [f"--timit_dir={missing}"],
            "corpus.demo_corpus": [],
            "extract.py": [f"--checkpoint={missing}", f"--out={tmp_path / 'out'}"],
            "analyze.py": [f"--activations={missing}", f"--out={tmp_path / 'out'}"],
            }.get(script, [])


OLD_VALUES = {"out_dir": REPO_FOLDER, "generate_codes": "0", "generate_value": "2",
              "generate_per_code": "3"}
OTHER_VALUES = {"out_dir": "work/elsewhere", "generate_codes": "1", "generate_value": "3",
                "generate_per_code": "4"}


def _deprecated_cases():
    try:
        return [pytest.param(*case, id=f"{case[2]}--{case[0]}") for case in deprecated_flags()]
    except (AssertionError, KeyError, OSError) as err:   # reported by test_the_tables_are_there
        return [pytest.param(None, None, None, marks=pytest.mark.skip(reason=str(err)))]


@pytest.mark.parametrize("old, new, script", _deprecated_cases())
def test_deprecated_name_works_with_one_line_notice(old, new, script, tmp_path):
    given = f"--{old}" if old not in OLD_VALUES else f"--{old}={OLD_VALUES[old]}"
    proc = run(script, *_required(script, tmp_path), given, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    notices = [ln for ln in lines if ": note: " in ln and " deprecated" in ln]
    assert len(notices) == 1, proc.stderr[-3000:]
    assert notices[0].startswith(f"{script}: note: --{old} ") and f"--{new}" in notices[0], \
        notices
    # the run went on under the new name and stopped at the bad input it was given
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert lines[-1].startswith(f"{script}: error: "), lines
    if old == "out_dir":            # the value arrived: the refusal names --out with it
        assert f"--out={REPO_FOLDER} " in lines[-1], lines[-1]
    assert os.listdir(tmp_path) == [], os.listdir(tmp_path)


@pytest.mark.parametrize("old, new, script", [
    c for c in _deprecated_cases() if c.values[0] in OTHER_VALUES])
def test_old_and_new_name_disagreeing_is_one_line(old, new, script, tmp_path):
    proc = run(script, *_required(script, tmp_path), f"--{old}={OLD_VALUES[old]}",
               f"--{new}={OTHER_VALUES[old]}", cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith(f"{script}: error: --{old}=") and "disagree" in lines[0], lines


BAD_VALUES = {"prepare.py": "--seed=many", "train.py": "--seed=many",
              "generate.py": "--seed=many", "extract.py": "--batch_size=many",
              "analyze.py": "--k=many", "demo.py": "--seed=many",
              "corpus.demo_corpus": "--n_speakers=many"}


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_bad_flag_is_one_line_exit_2(script, tmp_path):
    for arg, words in (("--no_such_flag=1", ["no_such_flag"]),
                       (BAD_VALUES[script], [BAD_VALUES[script].split("=")[0], "many"])):
        proc = run(script, arg, cwd=tmp_path, timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, (arg, proc.stderr[-3000:])
        assert lines[0].startswith(f"{script}: error: "), lines
        assert all(w in lines[0] for w in words), lines
    assert os.listdir(tmp_path) == []
