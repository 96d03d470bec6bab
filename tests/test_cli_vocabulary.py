"""One command-line vocabulary across the scripts (issues 13 and 24).

The vocabulary has one home, the stages' options dataclasses (:mod:`common.options`): each
script's flags are generated from its class, and the shared flags (``--out``, ``--seed``, ...)
from :data:`common.options.SHARED`.  This test reads the classes and checks

* that every field named like a shared flag takes it from SHARED (one definition each);
* that each script defines exactly its class's flags (absl's ``--helpxml``), with their
  types and choices, and no flag by hand;
* that every renamed name works (accepted, one-line notice when deprecated, copied onto the
  new name; both disagreeing is one line), and that a bad flag is one line and exit 2;
* that docs/CONVENTIONS.md's table of the shared flags says what the classes say.
"""

import ast
import functools
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from analysis.analyze_options import AnalysisOptions
from ciwgan.generate_options import GenerateOptions
from ciwgan.train_options import TrainOptions
from common.options import SHARED, flag_name, option_fields
from corpus.demo_corpus_options import DemoCorpusOptions
from corpus.prepare_options import PrepareOptions
from extraction.extract_options import ExtractOptions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONVENTIONS = os.path.join(ROOT, "docs", "CONVENTIONS.md")


def _demo_options():
    import demo
    return demo.DemoOptions


# script name (as in its messages) -> (command line after the interpreter, options class)
SCRIPTS = {
    "prepare.py": (["prepare.py"], PrepareOptions),
    "train.py": (["train.py"], TrainOptions),
    "generate.py": (["generate.py"], GenerateOptions),
    "extract.py": (["extract.py"], ExtractOptions),
    "analyze.py": (["analyze.py"], AnalysisOptions),
    "demo.py": (["demo.py"], None),               # demo.DemoOptions (imports every stage's)
    "corpus.demo_corpus": (["-m", "corpus.demo_corpus"], DemoCorpusOptions),
}
SOURCES = ["prepare.py", "train.py", "generate.py", "extract.py", "analyze.py", "demo.py",
           os.path.join("corpus", "demo_corpus.py")]
REPO_FOLDER = os.path.join(ROOT, "analysis")     # an output there is refused as bad input
# options kind -> absl --helpxml <type>
XML_TYPES = {"string": "string", "int": "int", "float": "float", "bool": "bool",
             "list": "comma separated list of strings", "enum": "string enum"}


def options_class(script):
    return SCRIPTS[script][1] or _demo_options()


def run(script, *args, cwd=ROOT, timeout=300):
    """Run a script from ``cwd`` (a run that writes nothing leaves a temporary cwd empty)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    argv = SCRIPTS[script][0]
    if not argv[0].startswith("-"):
        argv = [os.path.join(ROOT, argv[0])] + argv[1:]
    return subprocess.run([sys.executable, *argv, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def expected_flags(script):
    """{flag name: Option} the script must have, generated from its class: each field's flag,
    its synonyms (same type) and its renamed names."""
    found = {}
    for field, option in option_fields(options_class(script)):
        name = flag_name(field)
        if not name:
            continue
        found[name] = option
        for synonym in option.synonyms:
            found[synonym] = option
    return found


def renamed_flags():
    """[(script, Renamed, the new flag name)] of every class."""
    return [(script, renamed, flag_name(field)) for script in SCRIPTS
            for field, option in option_fields(options_class(script))
            for renamed in option.renamed]


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


# --------------------------------------------------------------------------------------------
# The classes
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("script", list(SCRIPTS))
def test_shared_flags_come_from_the_one_definition(script):
    """A field whose flag (or synonym) is a shared name is that shared flag: same type,
    choices and meaning (the stage may only add a sentence and narrow the range)."""
    problems = []
    for field, option in option_fields(options_class(script)):
        for name in (flag_name(field),) + option.synonyms:
            if name not in SHARED:
                continue
            base = SHARED[name]
            if not option.shared or option.kind != base.kind or option.choices != base.choices \
                    or not option.help.startswith(base.help):
                problems.append(f"--{name} (field {field.name}) is not the shared --{name}")
            if base.low is not None and (option.low is None or option.low < base.low):
                problems.append(f"--{name}: lower bound {option.low} below the shared "
                                f"{base.low}")
    assert not problems, f"{script}: " + "; ".join(problems)


def test_the_shared_flags_are_used_where_they_belong():
    having = {name: sorted(s for s in SCRIPTS if name in expected_flags(s)) for name in SHARED}
    assert set(having["out"]) == set(SCRIPTS) - {"train.py"}     # train.py: --train_dir
    assert set(having["seed"]) == set(SCRIPTS) - {"analyze.py"}
    assert set(having["data"]) == {"train.py", "extract.py"}
    assert set(having["checkpoint"]) == {"generate.py", "extract.py"}
    assert set(having["batch_size"]) == {"train.py", "generate.py", "extract.py", "demo.py"}
    assert set(having["normalize"]) == {"train.py", "extract.py"}
    assert set(having["n_per_code"]) == set(having["codes"]) == {"generate.py", "extract.py"}


def test_no_flag_is_defined_by_hand():
    """The scripts define no absl flag themselves: every one comes from an options class."""
    for source in SOURCES:
        tree = ast.parse(open(os.path.join(ROOT, source), encoding="utf-8").read())
        calls = [node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and isinstance(node.func, ast.Attribute) and node.func.attr.startswith("DEFINE")]
        assert not calls, f"{source} defines flags by hand: {calls}"


# --------------------------------------------------------------------------------------------
# The scripts
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("script", list(SCRIPTS))
def test_each_script_has_exactly_its_options_flags(script):
    have = script_flags(script)
    want = expected_flags(script)
    renamed = {r.name for s, r, _ in renamed_flags() if s == script}
    assert set(have) == set(want) | renamed | {"verbose"}, (
        sorted(set(have) ^ (set(want) | renamed | {"verbose"})))
    problems = []
    for name, option in want.items():
        if have[name]["type"] != XML_TYPES[option.kind]:
            problems.append(f"--{name}: {have[name]['type']}, expected {option.kind}")
        if option.kind == "enum" and have[name]["enum"] != list(option.choices):
            problems.append(f"--{name}: choices {have[name]['enum']}")
    for name in renamed:
        if "deprecated" not in (have[name]["meaning"] or "") and "name" not in \
                (have[name]["meaning"] or ""):
            problems.append(f"--{name} does not say what it is another name for")
    assert not problems, f"{script}: " + "; ".join(problems)


def test_train_keeps_the_original_names():
    have = script_flags("train.py")
    for original in ("train_dir", "data_dir", "train_batch_size", "data_normalize",
                     "wavegan_dim", "wavegan_disc_nupdates"):
        assert original in have and "deprecated" not in (have[original]["meaning"] or "")
    for shared in ("data", "batch_size", "normalize"):
        assert shared in have


# One run per renamed name.  Every run gives the script its required flags with values that
# fail as bad input after the names are carried over (a missing checkpoint or activations
# folder, an output in the repository), so nothing is written and no model is loaded.
def _required(script, tmp_path):
    missing = str(tmp_path / "missing")
    return {"prepare.py": [f"--timit_dir={missing}"],
            "train.py": [f"--train_dir={tmp_path / 'run'}", f"--data={missing}"],
            "extract.py": [f"--checkpoint={missing}", f"--data={missing}",
                           f"--out={tmp_path / 'out'}"],
            "analyze.py": [f"--activations={missing}", f"--out={tmp_path / 'out'}"],
            }.get(script, [])


OLD_VALUES = {"out_dir": REPO_FOLDER, "generate_codes": "0", "generate_value": "2",
              "generate_per_code": "3"}
OTHER_VALUES = {"out_dir": "work/elsewhere", "generate_codes": "1", "generate_value": "3",
                "generate_per_code": "4"}


def _renamed_cases():
    return [pytest.param(script, renamed, new, id=f"{script}--{renamed.name}")
            for script, renamed, new in renamed_flags()]


@pytest.mark.parametrize("script, renamed, new", _renamed_cases())
def test_renamed_name_works(script, renamed, new, tmp_path):
    old = renamed.name
    given = f"--{old}" if old not in OLD_VALUES else f"--{old}={OLD_VALUES[old]}"
    required = [a for a in _required(script, tmp_path)
                if not (old == "generate_codes" and a.startswith("--data="))]
    proc = run(script, *required, given, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    notices = [ln for ln in lines if ": note: " in ln and " deprecated" in ln]
    if renamed.deprecated:
        assert len(notices) == 1, proc.stderr[-3000:]
        assert notices[0].startswith(f"{script}: note: --{old} ") and f"{new}" in notices[0], \
            notices
    else:
        assert notices == [], proc.stderr[-3000:]
    # the run went on under the new name and stopped at the bad input it was given
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert lines[-1].startswith(f"{script}: error: "), lines
    if old == "out_dir":            # the value arrived: the refusal names --out with it
        assert f"--out={REPO_FOLDER} " in lines[-1], lines[-1]
    assert sorted(os.listdir(tmp_path)) == [], os.listdir(tmp_path)


@pytest.mark.parametrize("script, renamed, new", [
    c for c in _renamed_cases() if c.values[1].name in OTHER_VALUES])
def test_old_and_new_name_disagreeing_is_one_line(script, renamed, new, tmp_path):
    old = renamed.name
    proc = run(script, *_required(script, tmp_path), f"--{old}={OLD_VALUES[old]}",
               f"--{new}={OTHER_VALUES[old]}", cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith(f"{script}: error: --{old}=") and "disagree" in lines[0], lines


BAD_VALUES = {"prepare.py": "--seed=many", "train.py": "--seed=many",
              "generate.py": "--seed=many", "extract.py": "--batch_size=many",
              "analyze.py": "--k=many", "demo.py": "--seed=many",
              "corpus.demo_corpus": "--n_speakers=many"}
OUT_OF_RANGE = {"prepare.py": "--shard_size=0", "train.py": "--wavegan_disc_nupdates=0",
                "generate.py": "--value=nan", "extract.py": "--batch_size=-1",
                "analyze.py": "--k=0", "demo.py": "--train_minutes=inf",
                "corpus.demo_corpus": "--seed=-1"}


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_bad_flag_is_one_line_exit_2(script, tmp_path):
    for arg, words in (("--no_such_flag=1", ["no_such_flag"]),
                       (BAD_VALUES[script], [BAD_VALUES[script].split("=")[0], "many"]),
                       (OUT_OF_RANGE[script], [OUT_OF_RANGE[script], ": must be "]),
                       ("stray", ["unexpected arguments ['stray']"])):
        proc = run(script, arg, cwd=tmp_path, timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, (arg, proc.stderr[-3000:])
        assert lines[0].startswith(f"{script}: error: "), lines
        assert all(w in lines[0] for w in words), lines
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------------------------
# The documentation
# --------------------------------------------------------------------------------------------
def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_conventions_table_says_what_the_classes_say():
    """docs/CONVENTIONS.md lists each shared flag with the scripts that have it."""
    text = open(CONVENTIONS, encoding="utf-8").read()
    m = re.search(r"^## Command-line vocabulary\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, "docs/CONVENTIONS.md has no 'Command-line vocabulary' section"
    documented = {}
    for line in m.group(1).splitlines():
        cells = _cells(line) if line.startswith("| `--") else None
        if cells and len(cells) == 4:
            name = re.match(r"`--([a-z_]+)`", cells[0]).group(1)
            documented[name] = (cells[1], sorted(s.strip() for s in cells[3].split(",")))
    for name, option in SHARED.items():
        scripts = sorted(s for s in SCRIPTS if name in expected_flags(s))
        assert name in documented, f"--{name} is not in the table"
        kind = ("enum: " + ", ".join(option.choices)) if option.kind == "enum" else option.kind
        assert documented[name] == (kind, scripts), (name, documented[name], (kind, scripts))
