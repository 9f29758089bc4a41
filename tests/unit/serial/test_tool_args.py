"""The serial tools refuse nonsense arguments with a usage error, before doing anything."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from netdrv_serial import relay
from netdrv_serial.linktest import linktest_command


def test_the_relay_refuses_a_negative_line_rate(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        relay.main(["--baud", "-9600", "pty:/tmp/none-a", "pty:/tmp/none-b"])
    assert exc.value.code == 2 and "--baud -9600" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "what"),
    [(["-n", "-2"], "--count"), (["--size", "70000"], "--size"), (["-d", "-1"], "--duration")],
)
def test_linktest_refuses_out_of_range_options(args: list[str], what: str) -> None:
    res = CliRunner().invoke(linktest_command, ["sl0", *args])
    assert res.exit_code == 2 and what in res.output and "Traceback" not in res.output


def test_the_relay_never_deletes_what_is_at_a_link_path(tmp_path, capsys) -> None:
    precious = tmp_path / "ttyA"
    precious.write_text("someone's file")
    with pytest.raises(SystemExit) as exc:
        relay.main([str(precious), str(tmp_path / "ttyB")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "is not a symbolic link" in err and "Traceback" not in err
    assert precious.read_text() == "someone's file"  # not replaced by a link to a pty
    assert not (tmp_path / "ttyB").exists()


def test_the_relay_explains_a_missing_directory_and_one_path_twice(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        relay.main([str(tmp_path / "no" / "ttyA"), str(tmp_path / "ttyB")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "does not exist (create it first)" in err
    with pytest.raises(SystemExit) as exc:
        relay.main([str(tmp_path / "ttyA"), str(tmp_path / "ttyA")])
    assert exc.value.code == 2 and "two different paths" in capsys.readouterr().err


def test_the_relay_replaces_an_old_link_and_removes_only_its_own(tmp_path) -> None:
    import os

    a, b = tmp_path / "ttyA", tmp_path / "ttyB"
    os.symlink("/dev/pts/no-such-pty", a)  # left behind by a relay that was killed
    r = relay.Relay(str(a), str(b), 0)
    try:
        assert os.readlink(a) == os.ttyname(r.slaves[0])
        os.unlink(b)
        os.symlink("/dev/pts/another-relays", b)  # another relay took the path over since
    finally:
        r.close()
    assert not os.path.lexists(a)
    assert os.readlink(b) == "/dev/pts/another-relays"  # not this relay's to remove


def test_the_relay_does_not_take_over_a_cable_end_in_use(tmp_path) -> None:
    import os

    a, b, c = (str(tmp_path / n) for n in ("ttyA", "ttyB", "ttyC"))
    first = relay.Relay(a, b, 0)
    try:
        target = os.readlink(a)
        with pytest.raises(
            relay.LinkPathError, match=r"already leads to .* another relay or socat"
        ):
            relay.Relay(a, c, 0)
        assert os.readlink(a) == target and not os.path.lexists(c)  # the first keeps its end
    finally:
        first.close()
