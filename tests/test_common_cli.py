"""common/cli.py: renamed and negated flags, the command-line checks, errors -> exit codes."""

import pytest
from absl import flags

from common.cli import apply_renamed_flags, check_command_line, define_renamed_flag, run_main
from common.errors import InputError
from common.options import Renamed, require, shared

NEGATED = ((True, False), (False, True))


@pytest.fixture
def flag_values():
    fv = flags.FlagValues()
    flags.DEFINE_string("out", None, "output", flag_values=fv)
    flags.DEFINE_boolean("figures", True, "figures", flag_values=fv)
    flags.DEFINE_enum("normalize", "peak", ["peak", "none"], "normalisation", flag_values=fv)
    define_renamed_flag(Renamed("out_dir"), "out", fv)
    define_renamed_flag(Renamed("no_figures", NEGATED), "figures", fv)
    define_renamed_flag(Renamed("data_normalize", ((True, "peak"), (False, "none")),
                                deprecated=False), "normalize", fv)
    return fv


def test_a_renamed_flag_is_carried_over_once_with_one_notice(flag_values, capsys):
    flag_values(["x.py", "--out_dir=work/a"])
    apply_renamed_flags("x.py", flag_values)
    apply_renamed_flags("x.py", flag_values)  # a second call does nothing
    assert flag_values.out == "work/a"
    assert capsys.readouterr().err == "x.py: note: --out_dir is deprecated; use --out\n"


def test_a_negated_flag_sets_the_opposite(flag_values, capsys):
    flag_values(["x.py", "--no_figures"])
    apply_renamed_flags("x.py", flag_values)
    assert flag_values.figures is False
    assert "use --nofigures" in capsys.readouterr().err


def test_old_and_new_names_that_disagree_are_bad_input(flag_values):
    flag_values(["x.py", "--out_dir=a", "--out=b"])
    with pytest.raises(InputError, match="--out_dir=a and --out=b disagree"):
        apply_renamed_flags("x.py", flag_values)
    flag_values.unparse_flags()
    flag_values(["x.py", "--no_figures", "--figures"])
    with pytest.raises(InputError, match="disagree"):
        apply_renamed_flags("x.py", flag_values)


def test_a_name_kept_on_purpose_converts_without_a_notice(flag_values, capsys):
    """train.py's original --data_normalize (a boolean) gives --normalize=none, silently."""
    flag_values(["x.py", "--nodata_normalize"])
    apply_renamed_flags("x.py", flag_values)
    assert flag_values.normalize == "none" and capsys.readouterr().err == ""
    flag_values.unparse_flags()
    flag_values(["x.py", "--data_normalize", "--normalize=none"])
    with pytest.raises(InputError, match="--data_normalize=true and --normalize=none "
                                         "disagree"):
        apply_renamed_flags("x.py", flag_values)


def test_check_command_line(flag_values):
    flag_values(["x.py"])
    with pytest.raises(InputError, match=r"unexpected arguments \['stray'\]"):
        check_command_line("x.py", ["stray"], flag_values=flag_values)
    flag_values.unparse_flags()
    flag_values(["x.py", "--out_dir=o"])
    check_command_line("x.py", [], flag_values=flag_values)
    assert flag_values.out == "o"


def test_the_one_required_check():
    import dataclasses

    from common.options import StageOptions

    @dataclasses.dataclass(frozen=True)
    class Options(StageOptions):
        out: str = shared("out", required=True)
        data: str = shared("data", required=True)

    with pytest.raises(InputError, match="^--out and --data are required$"):
        require(Options())
    require(Options(out="o", data="d"))


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
