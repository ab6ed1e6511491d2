"""``meter --json`` with the wrong protocol (issue 11, item 11): one stderr line says what was
skipped and which protocol reads it, in JSON mode too."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbalancer.cli import main
from tests.conftest import TELEGRAMS
from tests.meter.hexfixtures import binary_capture


def run(capsys: pytest.CaptureFixture[str], path: Path, *args: str) -> tuple[str, list[str]]:
    assert main(["meter", "--source", f"file://{path}", *args]) == 0
    out, err = capsys.readouterr()
    return out, err.splitlines()


@pytest.mark.parametrize("mode", [["--json"], []])
def test_hdlc_read_as_p1_suggests_dlms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: list[str]
) -> None:
    capture = binary_capture(tmp_path, ["no_kamstrup_hdlc_01.hex", "se_aidon_hdlc_02.hex"])
    out, err = run(capsys, capture, "--protocol", "p1", *mode)
    hints = [line for line in err if "try --protocol dlms (or auto)" in line]
    assert len(hints) == 1, err
    assert hints[0].startswith("meter: no P1 telegram in the first ")
    assert "they look like HDLC frames" in hints[0]
    if mode:
        assert out == ""


@pytest.mark.parametrize("mode", [["--json"], []])
def test_p1_read_as_dlms_suggests_p1(capsys: pytest.CaptureFixture[str], mode: list[str]) -> None:
    out, err = run(capsys, TELEGRAMS / "se_sagemcom_t211_01.txt", "--protocol", "dlms", *mode)
    assert err == [
        "meter: no HDLC frame in the first 712 bytes (712 skipped); they look like P1 "
        "telegrams (/XXX5): try --protocol p1 (or auto)"
    ]
    if mode:
        assert out == ""


def test_the_right_protocol_gives_no_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, err = run(capsys, TELEGRAMS / "se_sagemcom_t211_01.txt", "--protocol", "p1", "--json")
    assert err == [] and len(out.splitlines()) == 1
    capture = binary_capture(tmp_path, ["no_kamstrup_hdlc_01.hex"])
    out, err = run(capsys, capture, "--protocol", "dlms", "--json")
    assert err == [] and len(out.splitlines()) == 1


def test_noise_in_json_mode_says_there_was_no_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    noise = tmp_path / "noise.bin"
    noise.write_bytes(b"hello world, no telegram here " * 10)
    out, err = run(capsys, noise, "--protocol", "p1", "--json")
    assert out == ""
    assert err == ["meter: no reading; 250 bytes skipped, no P1 telegram among them"]
