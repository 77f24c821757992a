"""The SFTP file drop of `ssh-serve`: one folder per SSH user, nothing else reachable, a size quota."""

from __future__ import annotations

import os
import uuid

import asyncssh
import pytest

from tests.ssh_harness import SshServer

pytestmark = pytest.mark.slow

QUOTA_MO = 1


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = SshServer(tmp_path_factory.mktemp("sftp"), users=("alice", "bob"),
                    extra_args=("--drop-quota", str(QUOTA_MO))).start()
    yield srv
    assert srv.stop() == 0


@pytest.fixture
def alice_folder(server):
    folder = server.drop_root / "alice"
    yield folder
    # Each test starts from an empty folder (links planted by tests included).
    if folder.exists():
        for root, dirs, files in os.walk(folder, topdown=False):
            for name in files:
                os.unlink(os.path.join(root, name))
            for name in dirs:
                path = os.path.join(root, name)
                os.unlink(path) if os.path.islink(path) else os.rmdir(path)


async def test_upload_lands_in_the_users_own_folder(server, alice_folder, tmp_path):
    local = tmp_path / "habilitation.xlsx"
    local.write_bytes(b"PK\x03\x04 classeur")
    async with await server.connect("alice") as conn, conn.start_sftp_client() as sftp:
        assert await sftp.realpath(".") == "/"
        await sftp.put(str(local), "habilitation.xlsx")
        assert "habilitation.xlsx" in await sftp.listdir("/")
        await sftp.mkdir("lot-2")
        await sftp.put(str(local), "/lot-2/copie.xlsx")
    stored = alice_folder / "habilitation.xlsx"
    assert stored.read_bytes() == b"PK\x03\x04 classeur"
    assert stored.stat().st_mode & 0o777 == 0o600
    assert (alice_folder / "lot-2").stat().st_mode & 0o777 == 0o700
    assert (alice_folder / "lot-2" / "copie.xlsx").exists()
    # Another SSH user has another folder and does not see alice's files.
    async with await server.connect("bob") as conn, conn.start_sftp_client() as sftp:
        assert await sftp.listdir("/") == [".", ".."]
        with pytest.raises(asyncssh.SFTPNoSuchFile):
            await sftp.stat("/habilitation.xlsx")


async def test_dot_dot_cannot_leave_the_folder(server, alice_folder, tmp_path):
    local = tmp_path / "f.txt"
    local.write_bytes(b"x")
    async with await server.connect("alice") as conn, conn.start_sftp_client() as sftp:
        for target in ("../evasion.txt", "/../evasion.txt", "a/../../evasion.txt", "../bob/evasion.txt"):
            with pytest.raises(asyncssh.SFTPPermissionDenied, match="hors de votre dossier de dépôt"):
                await sftp.put(str(local), target)
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.realpath("..")
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.listdir("../..")
    assert not (server.drop_root / "evasion.txt").exists()
    assert not (server.drop_root / "bob" / "evasion.txt").exists()


async def test_absolute_paths_stay_inside_the_folder(server, alice_folder, tmp_path):
    local = tmp_path / "f.txt"
    local.write_bytes(b"x")
    outside = f"/tmp/cpf-evasion-{uuid.uuid4().hex}"
    async with await server.connect("alice") as conn, conn.start_sftp_client() as sftp:
        with pytest.raises(asyncssh.SFTPNoSuchFile):
            await sftp.get("/etc/passwd", str(tmp_path / "passwd"))
        with pytest.raises(asyncssh.SFTPNoSuchFile):
            await sftp.put(str(local), outside)  # "/tmp" does not exist inside the folder
        await sftp.put(str(local), "/depose.txt")
    assert not os.path.exists(outside)
    assert not (tmp_path / "passwd").exists()
    assert (alice_folder / "depose.txt").exists()


async def test_links_cannot_be_made_or_followed_outside(server, alice_folder, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("hors du dépôt")
    outside_dir = tmp_path / "dehors"
    outside_dir.mkdir()
    async with await server.connect("alice") as conn, conn.start_sftp_client() as sftp:
        await sftp.put(str(secret), "dedans.txt")
        with pytest.raises(asyncssh.SFTPPermissionDenied, match="liens"):
            await sftp.symlink(str(secret), "lien")
        with pytest.raises(asyncssh.SFTPPermissionDenied, match="liens"):
            await sftp.symlink("dedans.txt", "lien-interne")
        with pytest.raises(asyncssh.SFTPPermissionDenied, match="liens"):
            await sftp.link("dedans.txt", "lien-dur")
        assert sorted(await sftp.listdir("/")) == [".", "..", "dedans.txt"]

        # Links planted on the disk by someone else are not followed out of the folder.
        os.symlink(secret, alice_folder / "piege.txt")
        os.symlink(outside_dir, alice_folder / "piege-dossier")
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.get("piege.txt", str(tmp_path / "vole.txt"))
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.put(str(secret), "piege-dossier/depose.txt")
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.listdir("piege-dossier")
    assert not (tmp_path / "vole.txt").exists()
    assert list(outside_dir.iterdir()) == []


async def test_quota_refuses_writes_beyond_it(server, alice_folder, tmp_path):
    part = tmp_path / "part.bin"
    part.write_bytes(os.urandom(700 * 1024))
    async with await server.connect("alice") as conn, conn.start_sftp_client() as sftp:
        await sftp.put(str(part), "premier.bin")
        with pytest.raises(asyncssh.SFTPFailure, match="Quota du dossier de dépôt dépassé"):
            await sftp.put(str(part), "second.bin")
        # The refused upload left nothing behind: its partial file does not count against the quota.
        assert not (alice_folder / "second.bin").exists()
        used = sum(p.stat().st_size for p in alice_folder.rglob("*") if p.is_file())
        assert used == 700 * 1024
        # Growing a file by truncation is refused too; freeing room makes the upload possible.
        with pytest.raises(asyncssh.SFTPFailure, match="Quota"):
            await sftp.truncate("premier.bin", 2 * 1024 * 1024)
        await sftp.remove("premier.bin")
        await sftp.put(str(part), "second.bin")
    assert (alice_folder / "second.bin").stat().st_size == 700 * 1024


async def test_permissions_cannot_be_widened(server, alice_folder, tmp_path):
    local = tmp_path / "f.txt"
    local.write_bytes(b"x")
    async with await server.connect("alice") as conn, conn.start_sftp_client() as sftp:
        await sftp.put(str(local), "f.txt")
        await sftp.chmod("f.txt", 0o4777)
    assert (alice_folder / "f.txt").stat().st_mode & 0o7777 == 0o600


async def test_links_planted_on_the_server_are_never_served(server, alice_folder, tmp_path):
    """A hard link (st_nlink > 1) or a symbolic link made from the server side cannot be read or written,
    even when it points inside the folder."""
    secret = tmp_path / "hostname-copie"
    secret.write_text("secret du serveur")
    alice_folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.link(secret, alice_folder / "lien-dur.txt")
    (alice_folder / "vrai.txt").write_text("à moi")
    os.symlink(alice_folder / "vrai.txt", alice_folder / "lien-interne.txt")
    async with await server.connect("alice") as conn, conn.start_sftp_client() as sftp:
        for name in ("lien-dur.txt", "lien-interne.txt"):
            with pytest.raises(asyncssh.SFTPPermissionDenied, match="liens"):
                await sftp.get(name, str(tmp_path / "vole.txt"), follow_symlinks=True)
            with pytest.raises(asyncssh.SFTPPermissionDenied, match="liens"):
                await sftp.put(str(secret), name)
        await sftp.get("vrai.txt", str(tmp_path / "mien.txt"))
        os.mkfifo(alice_folder / "tube")  # a FIFO would block the server if it were opened
        with pytest.raises(asyncssh.SFTPPermissionDenied, match="pas un fichier ordinaire"):
            await sftp.get("tube", str(tmp_path / "tube.txt"))
    assert secret.read_text() == "secret du serveur"
    assert not (tmp_path / "vole.txt").exists()
    assert (tmp_path / "mien.txt").read_text() == "à moi"


async def test_file_names_with_control_or_bidi_characters_are_refused(server, alice_folder, tmp_path):
    local = tmp_path / "f.xlsx"
    local.write_bytes(b"x")
    async with await server.connect("alice") as conn, conn.start_sftp_client() as sftp:
        for name in ("\x1b]2;PWNED\x07.xlsx", "rapport\u202exslx.exe", "a\nb.xlsx", "c\x9b2J.xlsx"):
            with pytest.raises(asyncssh.SFTPError, match="caractères de contrôle"):
                await sftp.put(str(local), name)
            with pytest.raises(asyncssh.SFTPError, match="caractères de contrôle"):
                await sftp.mkdir(name)
    assert os.listdir(alice_folder) == []
