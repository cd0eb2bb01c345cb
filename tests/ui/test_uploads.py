import gc
import os
import stat
import tempfile

import pytest

from pruneviz.core.errors import PrunevizError
from pruneviz.ui.uploads import Uploads, private_root, server_root


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_uploads_are_private_never_executable_and_written_whole(tmp_path):
    uploads = Uploads(tmp_path / "root", ttl_s=60)
    path = uploads.save("weights.PT", b"abc")
    assert path.parent == uploads.folder and path.suffix == ".pt" and path.read_bytes() == b"abc"
    assert mode(tmp_path / "root") == 0o700 and mode(uploads.folder) == 0o700 and mode(path) == 0o600
    assert path.name.endswith("-weights.pt") and uploads.save("weights.PT", b"abc") == path  # reused
    assert not list(uploads.folder.glob(".partial-*"))  # nothing half-written left behind
    odd = uploads.save("../../my model;.pt; rm -rf ~", b"z")
    assert odd.parent == uploads.folder and odd.suffix == "" and " " not in odd.name and ";" not in odd.name
    assert uploads.holds(path) and not uploads.holds(tmp_path / "root" / "other.pt")


def test_a_sessions_uploads_go_with_it(tmp_path):
    uploads = Uploads(tmp_path, ttl_s=60)
    folder = uploads.save("m.pt", b"abc").parent
    del uploads
    gc.collect()
    assert not folder.exists()


def test_files_unused_for_the_time_to_live_are_deleted_for_every_session(tmp_path):
    mine, theirs = Uploads(tmp_path, ttl_s=100), Uploads(tmp_path, ttl_s=100)
    old, fresh = theirs.save("old.pt", b"old"), mine.save("new.pt", b"new")
    os.utime(old, (1000.0, 1000.0))
    gone = mine.expire(now=1000.0 + 101)
    assert gone == [old] and not old.exists() and fresh.exists() and theirs.folder.exists()


def test_an_upload_root_someone_else_could_have_planted_is_refused(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(PrunevizError, match="not a private folder"):
        private_root(tmp_path / "link")
    (tmp_path / "open").mkdir(mode=0o777)
    os.chmod(tmp_path / "open", 0o777)
    with pytest.raises(PrunevizError, match="not a private folder"):
        private_root(tmp_path / "open")


def test_a_folder_planted_where_uploads_used_to_live_does_not_stop_uploads(tmp_path, monkeypatch):
    """Regression (issue 31): the root was the fixed /tmp/pruneviz-uploads-<uid>, so anyone who made that
    folder first, open to all, stopped every upload on the server. The root is made fresh for the server."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    planted = tmp_path / f"pruneviz-uploads-{os.getuid()}"
    planted.mkdir(mode=0o777)
    os.chmod(planted, 0o777)
    server_root.cache_clear()
    try:
        root = server_root()
        uploads = Uploads(root, ttl_s=60)
        path = uploads.save("model.pt", b"weights")
        assert root != planted and root.parent == tmp_path and mode(root) == 0o700
        assert path.read_bytes() == b"weights" and not any(planted.iterdir())
    finally:
        server_root.cache_clear()
