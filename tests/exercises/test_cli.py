"""minicnn exercise list / start: files, statuses and one-line errors."""
from minicnn.exercises import skeleton
from minicnn.tools import cli


def test_start_writes_the_skeleton_and_never_overwrites(tmp_path, capsys):
    assert cli.main(["exercise", "start", "conv_naive", "--dir", str(tmp_path)]) == 0
    path = tmp_path / "conv_naive.py"
    assert path.read_text() == skeleton("conv_naive")
    path.write_text("# my work\n")
    assert cli.main(["exercise", "start", "conv_naive", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already exists" in err and "--force" in err
    assert path.read_text() == "# my work\n"
    assert cli.main(["exercise", "start", "conv_naive", "--dir", str(tmp_path),
                     "--force"]) == 0
    assert path.read_text() == skeleton("conv_naive")


def test_list_shows_each_status(tmp_path, capsys):
    (tmp_path / "relu.py").write_text(skeleton("relu"))
    (tmp_path / "linear.py").write_text(
        (__import__("pathlib").Path(__file__).parent / "solutions" / "linear.py").read_text())
    assert cli.main(["exercise", "list", "--dir", str(tmp_path)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "passing" in lines["linear"]
    assert "failing" in lines["relu"]
    assert "not started" in lines["conv_naive"]


def test_check_of_a_missing_file_and_plug_of_a_non_kernel_are_one_line_errors(tmp_path,
                                                                               capsys):
    assert cli.main(["exercise", "check", "relu", "--dir", str(tmp_path)]) == 1
    assert "exercise start relu" in capsys.readouterr().err
    assert cli.main(["exercise", "plug", "linear"]) == 2
    assert "invalid choice" in capsys.readouterr().err
