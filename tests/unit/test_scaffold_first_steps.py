"""``netdrv new-driver``, as a new author meets it: a project that cannot be written is an
error that says why (not a traceback) and leaves nothing half-written behind; the next
steps it prints paste into a shell; the README it writes says what to install first."""

from __future__ import annotations

import errno
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from netdrv_core.cli import cli
from netdrv_core.scaffold import ScaffoldError, create_driver_project


def test_a_directory_under_a_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    target = tmp_path / "afile" / "proj"
    with pytest.raises(ScaffoldError, match=r"cannot write the project into .*proj: .*Not a dir"):
        create_driver_project("wrdrv", target)
    res = CliRunner().invoke(cli, ["new-driver", "wrdrv", "-d", str(target)])
    assert res.exit_code == 2, res.output
    assert "cannot write the project into" in res.output
    assert "choose another --directory" in res.output
    assert not isinstance(res.exception, OSError) and "Traceback" not in res.output


@pytest.mark.parametrize("existed", [False, True])
def test_a_write_that_fails_halfway_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existed: bool
) -> None:
    target = tmp_path / "proj"
    if existed:
        target.mkdir()  # an empty directory the user made stays, empty
    real_write_text = Path.write_text
    written: list[Path] = []

    def full_after_two(self: Path, data: str, *args: object, **kwargs: object) -> int:
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        written.append(self)
        return real_write_text(self, data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", full_after_two)
    with pytest.raises(ScaffoldError, match="No space left on device") as err:
        create_driver_project("wrdrv", target)
    assert "nothing was written" in str(err.value)
    assert len(written) == 2  # two files were written before the failure ...
    if existed:
        assert target.is_dir() and list(target.iterdir()) == []  # ... and removed again
    else:
        assert not target.exists()
    assert list(tmp_path.iterdir()) == ([target] if existed else [])


def test_the_next_steps_hint_runs_as_printed_for_a_directory_with_a_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["new-driver", "wrdrv", "-d", "my drivers/wr drv"])
    assert res.exit_code == 0, res.output
    hint = res.output.rsplit("next: ", 1)[1].strip()
    # Each step's arguments, as the shell splits them, are the project's paths.
    steps = [shlex.split(step) for step in hint.split(" && ")]
    assert steps == [
        ["pip", "install", "-e", "my drivers/wr drv"],
        ["netdrv", "drivers"],
        ["python", "-m", "pytest", "my drivers/wr drv/tests"],
    ]


def test_the_readme_says_to_install_netdrv_first(tmp_path: Path) -> None:
    # The project depends on netdrv; in an environment without it, `pip install -e .` looks
    # for netdrv on the package index and fails ("No matching distribution found for netdrv").
    create_driver_project("wrdrv", tmp_path / "p")
    readme = (tmp_path / "p" / "README.md").read_text()
    use_it = " ".join(readme.split("## Use it\n", 1)[1].split("```sh\n", 1)[0].split())
    assert "pip install -e /path/to/netdrv" in use_it
    assert "No matching distribution found for netdrv" in use_it


def test_a_file_cut_short_by_a_full_disk_is_removed_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real ENOSPC comes from write(2), after open(2) created the file: the file that
    # failed is half-written, and is the scaffold's to remove as well.
    target = tmp_path / "proj"
    real_write_text = Path.write_text
    calls: list[Path] = []

    def full_in_the_third(self: Path, data: str, *args: object, **kwargs: object) -> int:
        calls.append(self)
        if len(calls) == 3:
            real_write_text(self, data[: len(data) // 2], *args, **kwargs)  # type: ignore[arg-type]
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write_text(self, data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", full_in_the_third)
    with pytest.raises(ScaffoldError, match="No space left on device"):
        create_driver_project("wrdrv", target)
    assert not target.exists(), sorted(p.name for p in target.rglob("*"))


def test_a_file_another_process_made_meanwhile_is_neither_replaced_nor_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The directory was empty when checked; by the time the scaffold reaches .gitignore,
    # someone else has written one there: theirs stays, as it was, and the scaffold says so.
    target = tmp_path / "proj"
    real_write_text = Path.write_text

    def someone_else_writes(self: Path, data: str, *args: object, **kwargs: object) -> int:
        theirs = target / ".gitignore"
        if self != theirs and not theirs.exists():
            real_write_text(theirs, "theirs\n")
        return real_write_text(self, data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", someone_else_writes)
    with pytest.raises(ScaffoldError, match=r"File exists .*\.gitignore"):
        create_driver_project("wrdrv", target)
    assert [p.name for p in target.rglob("*")] == [".gitignore"]
    assert (target / ".gitignore").read_text() == "theirs\n"
