"""Every write of the suite, one helper at a time: a link, FIFO, hard link or another user's file
planted at the name is never written through (nor read), a folder others can write to is
refused, modes are set on the descriptor."""
import os
import stat
import threading

import pytest

from hivehealth import safe_write
from hivehealth.safe_write import (PRIVATE, RefusedWrite, append_private, checked_dir, open_in_place,
                                   read_in_place, write_atomic, write_new)

NOBODY = 65534


@pytest.fixture
def target(tmp_path):
    """A file outside the folder, as a link planted in the folder would point at it."""
    t = tmp_path / "outside" / "target"
    t.parent.mkdir()
    t.write_text("precious\n")
    t.chmod(0o644)
    return t


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "reports"
    d.mkdir(mode=0o750)
    return d


def untouched(t):
    assert t.read_text() == "precious\n" and stat.S_IMODE(t.stat().st_mode) == 0o644


def test_append_refuses_a_planted_link_and_leaves_its_target(folder, target):
    (folder / "audit.jsonl").symlink_to(target)
    with pytest.raises(RefusedWrite, match="audit.jsonl: is a symbolic link; hive-health does not write there"):
        append_private(folder / "audit.jsonl", "line\n")
    untouched(target)


def test_append_refuses_a_hard_link(folder, target):
    os.link(target, folder / "audit.jsonl")
    with pytest.raises(RefusedWrite, match=r"has 1 other name\(s\) \(a hard link\)"):
        append_private(folder / "audit.jsonl", "line\n")
    untouched(target)


def test_a_planted_fifo_is_refused_at_once_never_waited_on(folder):
    os.mkfifo(folder / "audit.jsonl")
    done = []
    t = threading.Thread(target=lambda: done.append(pytest.raises(RefusedWrite, append_private,
                                                                  folder / "audit.jsonl", "x\n")), daemon=True)
    t.start()
    t.join(10)
    assert done, "opening a FIFO planted at the name blocked"
    with pytest.raises(RefusedWrite, match="is not a regular file"):
        read_in_place(folder / "audit.jsonl")


def test_open_in_place_refuses_another_users_file(folder):
    (folder / "lock").write_text("")
    os.chown(folder / "lock", NOBODY, NOBODY)
    with pytest.raises(RefusedWrite, match=r"is owned by .*65534.*, not by this user or root"):
        open_in_place(folder / "lock", os.O_RDWR)


def test_an_existing_wider_file_is_narrowed_on_its_descriptor(folder):
    (folder / "audit.jsonl").write_text("")
    (folder / "audit.jsonl").chmod(0o666)
    append_private(folder / "audit.jsonl", "line\n")
    assert stat.S_IMODE((folder / "audit.jsonl").stat().st_mode) == PRIVATE
    assert (folder / "audit.jsonl").read_text() == "line\n"


def test_replacing_writes_replace_a_planted_link_never_follow_it(folder, target):
    for name, write in (("latest.json", write_atomic), ("fixseq", write_atomic)):
        (folder / name).symlink_to(target)
        write(folder / name, "new\n")
        assert not (folder / name).is_symlink() and (folder / name).read_text() == "new\n"
        assert stat.S_IMODE((folder / name).stat().st_mode) == PRIVATE
    (folder / "run-1.json").symlink_to(target)
    with pytest.raises(FileExistsError):          # a dated name that is taken, even by a link
        write_new(folder / "run-1.json", "new\n")
    untouched(target)
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("mode, who", [(0o770, "its group"), (0o757, "others"), (0o777, "others")])
def test_a_folder_others_can_write_to_is_refused(tmp_path, mode, who):
    d = tmp_path / "open"
    d.mkdir()
    d.chmod(mode)
    for write in (lambda: write_atomic(d / "latest.json", "x"), lambda: append_private(d / "audit.jsonl", "x"),
                  lambda: open_in_place(d / "lock", os.O_RDWR | os.O_CREAT)):
        with pytest.raises(RefusedWrite, match=f"is writable by {who} .*chmod go-w"):
            write()
    assert list(d.iterdir()) == []


def test_a_sticky_folder_is_not_refused_for_being_open(tmp_path):
    d = tmp_path / "sticky"
    d.mkdir()
    d.chmod(0o1777)
    write_atomic(d / "x.xml", "x")
    assert (d / "x.xml").read_text() == "x"


def test_a_folder_of_another_user_is_refused(tmp_path):
    d = tmp_path / "theirs"
    d.mkdir(mode=0o755)
    os.chown(d, NOBODY, NOBODY)
    with pytest.raises(RefusedWrite, match=r"theirs: is owned by .*65534.*could plant a link in it"):
        write_atomic(d / "latest.json", "x")


def test_folders_the_suite_creates_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        created = checked_dir(tmp_path / "a" / "reports")
    finally:
        os.umask(old)
    assert stat.S_IMODE(created.stat().st_mode) == safe_write.PRIVATE_DIR == 0o750


def test_companion_files_opened_by_name_are_checked(folder, target):
    (folder / "history.sqlite-wal").symlink_to(target)
    with pytest.raises(RefusedWrite, match="history.sqlite-wal: is a symbolic link"):
        safe_write.existing_is_regular(folder / "history.sqlite-wal")
    safe_write.existing_is_regular(folder / "absent")        # nothing there: fine
