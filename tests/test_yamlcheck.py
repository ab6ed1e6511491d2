"""The strict YAML reader under every site file and profile (issue 12 items 1, 7, 10)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from loadbalancer.errors import ConfigError
from loadbalancer.yamlcheck import (
    MAX_FILE_BYTES,
    YamlReader,
    parse_yaml,
    read_text_file,
    read_yaml_file,
)


def yaml_problem(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, "f.yaml")
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_repeated_key_is_refused_with_its_line_and_the_first() -> None:
    message = yaml_problem("fuse: 3x20A-gG\nmeter: {source: x}\nfuse: 3x35A-gG\n")
    assert message == "f.yaml: not valid YAML: line 3: duplicate key 'fuse' (first on line 1)"


def test_a_repeated_key_deeper_down_is_refused_too() -> None:
    assert "duplicate key 'port'" in yaml_problem("chargers:\n  - {port: 502, port: 503}\n")


def test_small_aliases_still_work_and_bombs_do_not() -> None:
    assert parse_yaml("a: &p [L1, L2]\nb: *p\n", "f.yaml") == {
        "a": ["L1", "L2"],
        "b": ["L1", "L2"],
    }
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n"
        for a, b in zip("abcdef", "bcdefg", strict=True)
    )
    assert "aliases expand to more than" in yaml_problem(bomb + "c: *g\n")
    assert "an alias refers to itself" in yaml_problem("a: &a [1, *a]\n")


def test_aliases_cannot_nest_a_document_deeper_than_the_limit() -> None:
    levels = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [[[[*a{i - 1}]]]]\n" for i in range(1, 12))
    assert "aliases nest it more than" in yaml_problem(levels)


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    assert "nested more than" in yaml_problem("a: " + "[" * 5000 + "]" * 5000)
    assert "nested more than" in yaml_problem("a: " + "{b: " * 5000 + "1" + "}" * 5000)


def test_base_60_and_overlong_integers_stay_text() -> None:
    data = parse_yaml("a: 1:30\nb: 1:30.5\nc: " + "9" * 5000 + "\nd: 0x10\ne: 1_000\n", "f")
    assert data == {"a": "1:30", "b": "1:30.5", "c": "9" * 5000, "d": 16, "e": 1000}


def test_a_scalar_the_constructor_cannot_build_is_a_config_error() -> None:
    assert "line 1: month must be in 1..12" in yaml_problem("a: 2024-13-45\n")
    assert "could not convert" in yaml_problem("a: !!float abc\n")


@pytest.mark.parametrize(
    "value", [".nan", ".NaN", ".inf", "-.inf", "1.0e+400", "1.0e+16", "-1.0e+16"]
)
def test_numbers_must_be_finite_and_sensible(value: str) -> None:
    data = parse_yaml(f"stale_after_s: {value}\n", "site.yaml")
    assert isinstance(data, dict)
    with pytest.raises(ConfigError) as caught:
        YamlReader("site.yaml").number(data["stale_after_s"], "meter.stale_after_s", 0.2, 3600)
    assert str(caught.value).startswith(
        "site.yaml: meter.stale_after_s: expected a finite number of sensible size, got "
    )


def test_number_refuses_base_60_with_a_hint_and_long_text_cut_short() -> None:
    reader = YamlReader("site.yaml")
    with pytest.raises(ConfigError, match=r"got '1:30' \(a base-60 number in YAML 1\.1"):
        reader.number("1:30", "control.ramp_up_delay_s")
    with pytest.raises(ConfigError) as caught:
        reader.integer("9" * 5000, "chargers[0].port", 1, 65535)
    assert len(str(caught.value)) < 120
    assert math.isclose(reader.number(7, "x"), 7.0)


def test_label_refuses_control_and_format_characters() -> None:
    reader = YamlReader("site.yaml")
    assert reader.label("carport Ö", "chargers[0].name") == "carport Ö"
    for bad in ("car\x1b[2Jport", "car\u202eport", "car\nport"):
        with pytest.raises(ConfigError, match=r"chargers\[0\]\.name: .* holds a control"):
            reader.label(bad, "chargers[0].name")


def test_unknown_keys_are_repeated_only_when_they_look_like_keys() -> None:
    reader = YamlReader("site.yaml")
    with pytest.raises(ConfigError) as caught:
        reader.mapping({"sorce": 1}, "meter", {"source"})
    assert str(caught.value) == "site.yaml: meter.sorce: unknown key (known: source)"
    for odd in ("x\x1b[2J", "root:$6$saltsalt$hash:19000:0:99999:7::", "y" * 100):
        with pytest.raises(ConfigError) as caught:
            reader.mapping({odd: 1}, "meter", {"source"})
        assert (
            str(caught.value) == "site.yaml: meter: a key that is none of the known ones (source)"
        )


def test_a_document_of_another_kind_is_not_quoted() -> None:
    data = parse_yaml("root:x:0:0:root:/root:/bin/bash\n", "/etc/passwd")
    with pytest.raises(ConfigError) as caught:
        YamlReader("/etc/passwd").mapping(data, "", {"name"})
    assert str(caught.value) == "/etc/passwd: expected a mapping, got text"


def test_only_small_regular_utf8_files_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_text_file(fifo)  # would block for ever without O_NONBLOCK and the check
    with pytest.raises(ConfigError, match="not a regular file"):
        read_text_file(Path("/dev/zero"))
    with pytest.raises(ConfigError, match="not a regular file"):
        read_text_file(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: 1\n" + b"#" * MAX_FILE_BYTES)
    with pytest.raises(ConfigError, match="larger than 32 KB"):
        read_yaml_file(big, "site file")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: carp\xf6rt\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 10 is not\)"):
        read_yaml_file(latin)
    with pytest.raises(ConfigError, match="cannot read: No such file"):
        read_text_file(tmp_path / "absent.yaml")


def test_a_file_that_grows_past_its_stat_size_is_still_capped() -> None:
    """/proc files say size 0 and are regular: the read itself is bounded."""
    assert len(read_text_file(Path("/proc/self/status"))) < MAX_FILE_BYTES
