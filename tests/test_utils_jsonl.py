import pytest

from repro.utils.jsonl import iter_jsonl_objects


class CustomError(ValueError):
    pass


def test_jsonl_yields_objects_with_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n   \n{"a": 2}\n', encoding="utf-8")
    rows = list(iter_jsonl_objects(path, CustomError))
    assert rows == [(f"{path}:1", {"a": 1}), (f"{path}:4", {"a": 2})]


def test_jsonl_invalid_line_names_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    with pytest.raises(CustomError, match=r"rows\.jsonl:2: invalid JSON"):
        list(iter_jsonl_objects(path, CustomError))


@pytest.mark.parametrize("line, kind", [("[1, 2]", "list"), ("3", "int"), ('"text"', "str")])
def test_jsonl_non_object_rejected(tmp_path, line, kind):
    path = tmp_path / "rows.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(CustomError, match=rf"rows\.jsonl:1: expected a JSON object per line, got {kind}"):
        list(iter_jsonl_objects(path, CustomError))


def test_jsonl_empty_file_yields_nothing(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("", encoding="utf-8")
    assert list(iter_jsonl_objects(path, CustomError)) == []
