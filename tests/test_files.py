"""gemini_np.files: atomic writes, and output paths checked before any long work (writing nothing)."""
import json
import os
import stat

import pytest

from gemini_np.files import OutputPathError, atomic_open, check_output_dir, check_output_file, write_json


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ----------------------------------------------------------------------------- atomic writes


def test_atomic_open_writes_the_file_and_creates_missing_folders(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    with atomic_open(target, "w", encoding="utf-8") as f:
        f.write("红色 圆形")
    assert target.read_text(encoding="utf-8") == "红色 圆形"
    assert listing(tmp_path) == ["a", "a/b", "a/b/out.txt"]  # no temporary file left


def test_an_interrupted_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous")
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(target, "wb") as f:
            f.write(b"half of the new")
            raise KeyboardInterrupt  # Ctrl-C in the middle of the write
    assert target.read_bytes() == b"previous"
    assert listing(tmp_path) == ["out.bin"]


def test_the_written_file_gets_the_usual_mode_not_mkstemps_private_one(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_open(tmp_path / "f.txt", "w", encoding="utf-8") as f:
            f.write("x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644


def test_write_json_is_indented_utf8_and_refuses_nan(tmp_path):
    path = write_json(tmp_path / "m.json", {"caption": "红色", "accuracy": 0.5})
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == {"caption": "红色", "accuracy": 0.5}
    assert "红色" in text and text.endswith("\n") and '\n  "caption"' in text
    with pytest.raises(ValueError):
        write_json(tmp_path / "bad.json", {"loss": float("nan")})
    assert listing(tmp_path) == ["m.json"]  # the failed write left nothing


# ----------------------------------------------------------------------------- output paths, checked before the work


def test_good_output_paths_are_accepted_and_nothing_is_created(tmp_path):
    (tmp_path / "old.npz").write_bytes(b"x")
    assert check_output_file(tmp_path / "new.npz", "--save") == tmp_path / "new.npz"
    assert check_output_file(tmp_path / "old.npz", "--save") == tmp_path / "old.npz"  # overwriting is fine
    assert check_output_file(tmp_path / "not" / "yet" / "m.npz", "--save") == tmp_path / "not" / "yet" / "m.npz"
    assert check_output_dir(tmp_path / "figs", "--plots") == tmp_path / "figs"
    assert check_output_dir(tmp_path, "--plots") == tmp_path  # an existing folder
    assert check_output_dir(tmp_path / "a" / "b", "--plots") == tmp_path / "a" / "b"
    assert listing(tmp_path) == ["old.npz"]  # nothing was made, not even a probe file


def test_a_folder_where_a_file_goes_is_refused(tmp_path):
    (tmp_path / "runs").mkdir()
    with pytest.raises(OutputPathError, match=r"--save .*runs is a folder; give a file name, such as .*runs/out"):
        check_output_file(tmp_path / "runs", "--save")
    assert listing(tmp_path) == ["runs"]


def test_a_file_where_a_folder_goes_is_refused(tmp_path):
    (tmp_path / "figs").write_text("x")
    with pytest.raises(OutputPathError, match=r"--plots .*figs is a file, not a folder"):
        check_output_dir(tmp_path / "figs", "--plots")
    assert listing(tmp_path) == ["figs"]


@pytest.mark.parametrize("below", ["m.npz", "sub/m.npz"], ids=["parent", "grandparent"])
def test_a_path_below_a_file_is_refused(tmp_path, below):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(OutputPathError, match=r"a_file is a file, so no folder can be made under it"):
        check_output_file(tmp_path / "a_file" / below, "--json")
    with pytest.raises(OutputPathError, match=r"a_file is a file, so no folder can be made under it"):
        check_output_dir(tmp_path / "a_file" / below, "--plots")
    assert listing(tmp_path) == ["a_file"]


def test_an_unwritable_place_is_refused():
    """sysfs refuses new files even to root."""
    with pytest.raises(OutputPathError, match=r"--save /sys/no_such_folder/m.npz: cannot write in /sys"):
        check_output_file("/sys/no_such_folder/m.npz", "--save")


def test_output_path_errors_are_one_line_value_errors(tmp_path):
    assert issubclass(OutputPathError, ValueError)
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputPathError) as info:
        check_output_dir(tmp_path / "f", "--plots")
    assert "\n" not in str(info.value)
