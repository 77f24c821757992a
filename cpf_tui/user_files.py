"""The files the application reads or writes for the person at the keyboard, and where they may be.

Over SSH (`ssh-serve`, or the OpenSSH wrapper, both set `CPF_TUI_DROP_DIR`) every file the person
names or gets (bulk workbook, template, result workbook, journal export) is inside that SSH user's
drop folder, the same folder SFTP serves:

- names are relative to the folder (`lot-2/liste.xlsx`); absolute paths, `~` and `..` are refused;
- no component may be a symbolic link, and the file may not have other hard links (st_nlink > 1);
- a refused path gets one French message whatever the rest of the disk holds: the path is never
  looked at outside the folder, so the answer tells nothing about what exists there.

Locally (no SSH) the person owns the machine's account: the picker is rooted in the data folder (the
training sandbox's folder in `cpf-tui demo`, where its sample workbooks are) and says so, bare names
are resolved against it, and other paths are taken as typed.

Kept free of Textual: the screens and tests use it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cpf_tui.errors import NotFound, ValidationError
from cpf_tui.text import display, has_control_chars

DROP_DIR_VAR = "CPF_TUI_DROP_DIR"

REFUSED = (
    "Chemin refusé : indiquez le nom d'un fichier de votre dossier de dépôt, sans « .. », "
    "sans chemin absolu ni lien."
)
LINKED = "Fichier refusé : les liens (symboliques ou physiques) ne sont pas acceptés dans le dossier de dépôt."
CONTROL = "Nom de fichier refusé : il contient des caractères de contrôle."
EMPTY = "Indiquez le nom du classeur .xlsx (ou Ctrl+O pour parcourir)."


@dataclass(frozen=True)
class UserFiles:
    """Where the person's files are: `root`, confined to it when `over_ssh`."""

    root: Path
    over_ssh: bool
    local_name: str = "votre dossier de données"
    local_exports: Path | None = None
    """Where generated files go locally when it is not the caller's default (the training sandbox's own
    `exports` folder, beside its database: a sandbox never writes into the user's data folder)."""

    @classmethod
    def for_session(cls, data_path: Path, env: Mapping[str, str] | None = None) -> UserFiles:
        """The drop folder of this SSH session, or the local data folder."""
        env = os.environ if env is None else env
        drop = env.get(DROP_DIR_VAR, "").strip()
        if drop:
            return cls(Path(os.path.realpath(Path(drop).expanduser())), True)
        return cls(Path(data_path).expanduser().resolve(), False)

    @classmethod
    def for_settings(cls, settings, env: Mapping[str, str] | None = None) -> UserFiles:  # noqa: ANN001 - Settings
        """`for_session`, except that the training sandbox's local root is its own folder."""
        files = cls.for_session(settings.data_path, env)
        url = settings.database.url or ""
        if files.over_ssh or not settings.sandbox or not url.startswith("sqlite://"):
            return files
        folder = Path(url[len("sqlite://"):].split("?", 1)[0]).expanduser().resolve().parent
        return cls(folder, False, "le dossier du bac à sable", folder / "exports")

    # -- what the person is told ------------------------------------------------------------
    @property
    def place(self) -> str:
        """The folder in a French sentence (its server path is never shown over SSH)."""
        return "votre dossier de dépôt" if self.over_ssh else f"{self.local_name} ({display(self.root)})"

    def shown(self, path: Path) -> str:
        """A path as the person should see it: relative to the drop folder over SSH."""
        if self.over_ssh:
            try:
                return display(Path(path).relative_to(self.root).as_posix())
            except ValueError:
                return display(Path(path).name)
        return display(path)

    # -- reading -------------------------------------------------------------------------------
    def resolve(self, typed: str) -> Path:
        """The file named by `typed` (ValidationError or NotFound in French, nothing opened otherwise)."""
        text = typed.strip()
        if not text:
            raise ValidationError(EMPTY)
        if has_control_chars(text) or "\0" in text:
            raise ValidationError(CONTROL)
        if not self.over_ssh:
            path = Path(text).expanduser()
            return path if path.is_absolute() else self.root / path
        return self.confined(text)

    def confined(self, relative: str) -> Path:
        """`relative` walked component by component from the drop folder, links never followed."""
        pure = PurePosixPath(relative.replace("\\", "/"))
        if pure.is_absolute() or relative.startswith("~") or ".." in pure.parts:
            raise ValidationError(REFUSED)
        parts = [part for part in pure.parts if part not in ("", ".")]
        if not parts:
            raise ValidationError(EMPTY)
        current = self.root
        info = None
        for part in parts:
            if info is not None and not stat.S_ISDIR(info.st_mode):
                raise NotFound(f"Aucun fichier « {display(relative)} » dans votre dossier de dépôt.")
            current = current / part
            try:
                info = os.lstat(current)
            except FileNotFoundError:
                raise NotFound(f"Aucun fichier « {display(relative)} » dans votre dossier de dépôt.") from None
            except OSError:
                raise ValidationError(REFUSED) from None
            if stat.S_ISLNK(info.st_mode):
                raise ValidationError(LINKED)
        assert info is not None
        if not stat.S_ISREG(info.st_mode):
            raise ValidationError(f"« {display(relative)} » n'est pas un fichier.")
        if info.st_nlink > 1:
            raise ValidationError(LINKED)
        return current

    def may_list(self, path: Path) -> bool:
        """Whether the picker shows `path`: over SSH, no links of any kind and nothing outside."""
        if not self.over_ssh:
            return True
        try:
            info = os.lstat(path)
        except OSError:
            return False
        if stat.S_ISLNK(info.st_mode):
            return False
        if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
            return False
        return self.contains(path)

    def contains(self, path: Path) -> bool:
        resolved = Path(os.path.realpath(path))
        return resolved == self.root or self.root in resolved.parents

    # -- writing -------------------------------------------------------------------------------
    def output_folder(self, local_default: Path) -> Path:
        """Where generated files go: the drop folder over SSH, the sandbox's own `exports` folder in
        training, else `local_default`."""
        if self.over_ssh:
            return self.root
        return self.local_exports or local_default
