"""The --json report follows REPORT_SCHEMA; the validator catches what breaks it."""
import copy
import json
import os
import shutil

import pytest

from minicnn import exercises
from minicnn.exercises import REPORT_SCHEMA, SchemaError, validate
from minicnn.tools import cli

SOLUTIONS = os.path.join(os.path.dirname(__file__), "solutions")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("work")
    shutil.copy(os.path.join(SOLUTIONS, "linear.py"), folder)
    (folder / "linear.py").write_text((folder / "linear.py").read_text().replace(
        "gb = gy.sum(axis=0)", "gb = gy.mean(axis=0)"))
    return exercises.check("linear", str(folder))


def test_a_report_is_valid_and_json(report):
    validate(json.loads(json.dumps(report)))
    # shapes, forward and the batch-of-one edge case pass; mean == sum when N == 1
    assert report["summary"] == {"passed": 3, "total": 5}
    assert report["tests"][2]["status"] == "failed"
    assert len(report["file_sha256"]) == 64


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.pop("versions"), "missing field 'versions'"),
    (lambda r: r.update(passed="yes"), "report.passed: expected boolean"),
    (lambda r: r["tests"][0].update(status="great"), "report.tests[0].status"),
    (lambda r: r.update(extra=1), "unexpected field 'extra'"),
    (lambda r: r.update(file_sha256="xyz"), "does not match"),
    (lambda r: r["summary"].update(total=-1), "expected >= 0"),
])
def test_the_validator_names_the_broken_field(report, edit, message):
    broken = copy.deepcopy(report)
    edit(broken)
    with pytest.raises(SchemaError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate(broken)


def test_every_test_field_is_documented():
    fields = REPORT_SCHEMA["properties"]["tests"]["items"]["properties"]
    assert set(fields) == set(REPORT_SCHEMA["properties"]["tests"]["items"]["required"])


def test_cli_check_json_and_exit_status(tmp_path, capsys):
    shutil.copy(os.path.join(SOLUTIONS, "relu.py"), tmp_path)
    assert cli.main(["exercise", "check", "relu", "--dir", str(tmp_path), "--json"]) == 0
    validate(json.loads(capsys.readouterr().out))
    (tmp_path / "relu.py").write_text("def relu_forward(x):\n    return x\n")
    assert cli.main(["exercise", "check", "relu", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "case:" in out and "hint:" in out and "threshold" in out
