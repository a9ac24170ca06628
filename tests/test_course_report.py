import pytest

from ntklab.course.report import BOX_WIDTH, checked


def test_checked_wraps_to_the_box(capsys):
    words = ["Checked:"] + [f"word{i}" for i in range(40)]
    assert checked(*words) is None
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert len(lines) > 1
    assert max(map(len, lines)) <= BOX_WIDTH
    assert " ".join(text.split()) == " ".join(words)


def test_checked_refuses_a_tiny_width():
    with pytest.raises(ValueError, match="width"):
        checked("x", width=5)
