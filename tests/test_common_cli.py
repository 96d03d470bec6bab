"""common/cli.py: renamed and negated flags, the command-line checks, errors -> exit codes."""

import pytest
from absl import flags

from common.cli import (apply_deprecated_aliases, check_command_line, define_deprecated_alias,
                        run_main)
from common.errors import InputError


@pytest.fixture
def flag_values():
    fv = flags.FlagValues()
    flags.DEFINE_string("out", None, "output", flag_values=fv)
    flags.DEFINE_boolean("figures", True, "figures", flag_values=fv)
    define_deprecated_alias("out_dir", "out", fv)
    define_deprecated_alias("no_figures", "figures", fv, negate=True)
    return fv


def test_a_renamed_flag_is_carried_over_once_with_one_notice(flag_values, capsys):
    flag_values(["x.py", "--out_dir=work/a"])
    apply_deprecated_aliases("x.py", flag_values)
    apply_deprecated_aliases("x.py", flag_values)  # a second call does nothing
    assert flag_values.out == "work/a"
    assert capsys.readouterr().err == "x.py: note: --out_dir is deprecated; use --out\n"


def test_a_negated_flag_sets_the_opposite(flag_values, capsys):
    flag_values(["x.py", "--no_figures"])
    apply_deprecated_aliases("x.py", flag_values)
    assert flag_values.figures is False
    assert "use --nofigures" in capsys.readouterr().err


def test_old_and_new_names_that_disagree_are_bad_input(flag_values):
    flag_values(["x.py", "--out_dir=a", "--out=b"])
    with pytest.raises(InputError, match="--out_dir=a and --out=b disagree"):
        apply_deprecated_aliases("x.py", flag_values)
    flag_values.unparse_flags()
    flag_values(["x.py", "--no_figures", "--figures"])
    with pytest.raises(InputError, match="disagree"):
        apply_deprecated_aliases("x.py", flag_values)


def test_only_booleans_can_be_negated(flag_values):
    with pytest.raises(ValueError):
        define_deprecated_alias("no_out", "out", flag_values, negate=True)


def test_check_command_line(flag_values):
    flag_values(["x.py"])
    with pytest.raises(InputError, match="--out is required"):
        check_command_line("x.py", [], required=("out",), flag_values=flag_values)
    with pytest.raises(InputError, match=r"unexpected arguments \['stray'\]"):
        check_command_line("x.py", ["stray"], flag_values=flag_values)
    flag_values.unparse_flags()
    flag_values(["x.py", "--out_dir=o"])
    check_command_line("x.py", [], required=("out",), flag_values=flag_values)
    assert flag_values.out == "o"


def test_run_main_maps_errors_to_exit_codes(capsys):
    def bad_input():
        raise InputError("--data=x: no\nsuch folder")

    assert run_main("x.py", bad_input) == 2
    assert capsys.readouterr().err == "x.py: error: --data=x: no such folder\n"
    assert run_main("x.py", lambda: None) == 0
    assert run_main("x.py", lambda: 3) == 3

    def bug():
        raise ZeroDivisionError("a bug")

    assert run_main("x.py", bug) == 1
    assert "Traceback" in capsys.readouterr().err
