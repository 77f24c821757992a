"""Regenerate the screen captures of `docs/guide-utilisateur.md` from the real application.

Builds a fresh training sandbox in a temporary folder, drives `cpf-tui demo --db …` in tmux at 80x24
(the harness of `tests/e2e/tmux.py`) like a trainee would, and copies each screen (`capture-pane -p`)
into the guide between `<!-- capture:NAME -->` and `<!-- /capture -->`. The hand-written text around
the markers is left as it is.

    .venv/bin/python docs/make_guide.py            # or: make guide
    .venv/bin/python docs/make_guide.py --keep     # keep the temporary folder (sandbox, workbooks)

Every step waits for a text of the expected screen; when it does not show, the script stops with the
name of the capture, the text it waited for and the screen it got, and the guide is not modified.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cpf_tui.services.sandbox import PENDING_TEMP_PASSWORD, TRAINING_PASSWORD  # noqa: E402
from tests.e2e.tmux import TMUX, TmuxTerminal, app_env  # noqa: E402

GUIDE = ROOT / "docs" / "guide-utilisateur.md"
WORK_DIR_NAME = "cpf-tui-guide"
"""Fixed name of the temporary folder, so that the paths shown in the captures stay the same."""
SAMPLE = "habilitation-en-masse-exemple.xlsx"
BAD_SAMPLE = "habilitation-en-masse-erreurs.xlsx"
PASSWORD = TRAINING_PASSWORD
FIRST_LOGIN_PASSWORD = PENDING_TEMP_PASSWORD
NEW_PASSWORD = "Cheval-Bleu-Marine-42"
TIMEOUT = 30.0
LOCK_MINUTES = 1
"""Idle delay of the session used for the lock-screen capture (the real default is 15 or 30 minutes)."""

BORDERS = " │┃▊▎▔║╔═┌─"
"""Frame characters stripped before looking at the start of a screen line."""
MARKER = re.compile(r"(<!-- capture:([a-z0-9-]+) -->\n)(.*?)(<!-- /capture -->)", re.S)


class GuideError(Exception):
    """A step of the walk-through did not give the expected screen."""


class Terminal(TmuxTerminal):
    """The tmux harness, with waits that fail with the capture being made and the screen seen."""

    step = ""

    def type(self, text: str) -> None:
        # `--`: a text starting with "-" is not an option of send-keys.
        self._tmux("send-keys", "-t", self.session, "-l", "--", text)

    def keys(self, *keys: str, pause: float = 0.15) -> None:
        for key in keys:
            self.send(key)
            time.sleep(pause)

    def wait_text(self, *texts: str, timeout: float = TIMEOUT) -> str:
        """Wait until every text is on screen."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            if self.exit_file.exists() and self.exit_file.read_text().strip():
                break
            time.sleep(0.15)
        missing = [text for text in texts if text not in screen]
        raise GuideError(f"[{self.step}] texte introuvable à l'écran : {missing!r}\n--- écran ---\n{screen}")

    def wait_line(self, start: str, text: str, timeout: float = TIMEOUT) -> None:
        """Wait until the line starting with `start` also shows `text`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(line.strip().startswith(start) and text in line for line in self.screen().splitlines()):
                return
            time.sleep(0.15)
        raise GuideError(f"[{self.step}] la ligne « {start} » ne montre pas « {text} »\n{self.screen()}")

    def wait_absent(self, text: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text not in self.screen():
                return
            time.sleep(0.2)
        raise GuideError(f"[{self.step}] « {text} » reste affiché\n--- écran ---\n{self.screen()}")

    def cursor_row(self) -> int:
        out = self._tmux("display-message", "-p", "-t", self.session, "#{cursor_y}").stdout.strip()
        return int(out) if out.isdigit() else -1

    def wait_cursor_below(self, label: str, first: int = 1, timeout: float = TIMEOUT) -> None:
        """Wait until the cursor (the focused input) sits `first` to 2 rows below `label`, twice in a row.

        Textual moves the focus after the key that asks for it: text typed too early lands in the
        previous field.
        """
        deadline = time.monotonic() + timeout
        hits = 0
        while time.monotonic() < deadline:
            rows = [index for index, line in enumerate(self.screen().splitlines()) if line.strip(BORDERS).startswith(label)]
            hits = hits + 1 if rows and rows[0] + first <= self.cursor_row() <= rows[0] + 2 else 0
            if hits >= 2:
                return
            time.sleep(0.1)
        raise GuideError(f"[{self.step}] le curseur n'est pas passé dans « {label} »\n{self.screen()}")

    def settled(self, quiet: float = 0.8, timeout: float = 8.0) -> str:
        """The screen once it has not changed for `quiet` seconds (or after `timeout`)."""
        deadline = time.monotonic() + timeout
        last = self.screen()
        since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = self.screen()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return last


@dataclass
class Walk:
    """Where the walk-through runs and what it captured."""

    work: Path
    db: Path
    command: list[str]
    captures: dict[str, str]

    def env(self, **extra: str) -> dict[str, str]:
        return app_env(self.work, **extra)

    @contextmanager
    def app(self, *, env: dict[str, str] | None = None, build: bool = False) -> Iterator[Terminal]:
        """`cpf-tui demo --db …` in its own tmux server, quit (Ctrl+Q, o) and closed at the end."""
        term = Terminal(self.command, env=env or self.env(), cwd=self.work)
        term.step = "démarrage"
        term.start()
        try:
            term.wait_text("Connexion à l'espace de gestion CPF", timeout=240 if build else 60)
            yield term
            quit_app(term)
        finally:
            term.close()

    def capture(self, term: Terminal, name: str, *texts: str, gone: tuple[str, ...] = ()) -> None:
        """Wait for `texts` (and for `gone` to disappear), then keep the settled screen as `name`."""
        term.step = name
        term.wait_text(*texts)
        for text in gone:
            term.wait_absent(text)
        screen = term.settled()
        missing = [text for text in texts if text not in screen]
        if missing:
            raise GuideError(f"[{name}] l'écran a changé avant la capture : {missing!r}\n{screen}")
        lines = [line.rstrip() for line in screen.splitlines()]
        self.captures[name] = "\n".join(lines).rstrip("\n")
        print(f"  capture {name}")


def quit_app(term: Terminal) -> None:
    term.step = "quitter"
    term.keys("C-q")
    term.wait_text("Quitter l'application ?")
    term.keys("o")
    term.wait_exit(timeout=TIMEOUT)


def login(term: Terminal, identifier: str, password: str = PASSWORD) -> None:
    term.step = f"connexion {identifier}"
    term.wait_text("Connexion à l'espace de gestion CPF")
    term.type(identifier)
    term.keys("Enter")
    term.wait_cursor_below("Mot de passe")
    term.type(password)
    term.keys("Enter")


def wait_home(term: Terminal, identifier: str) -> None:
    term.step = f"accueil {identifier}"
    term.wait_text(f"Identifiant : {identifier}", "Sections")


def open_section(term: Terminal, role: str, profile: str | None, label: str) -> None:
    """Choose `label` in the home menu (its position comes from the app's own section list)."""
    from screens.sections import sections_for

    labels = [section.label for section in sections_for(SimpleNamespace(role=role, profile=profile))]
    if label not in labels:
        raise GuideError(f"la section « {label} » n'est pas proposée au rôle {role} ({profile}) : {labels}")
    term.step = f"section {label}"
    term.keys("Home", *(["Down"] * labels.index(label)), "Enter")


# -- sandbox data the walk-through needs ------------------------------------------------------------------
def query_one(db: Path, sql: str, *params: object) -> tuple:
    with sqlite3.connect(db) as connection:
        row = connection.execute(sql, params).fetchone()
    if row is None:
        raise GuideError(f"donnée introuvable dans la base de formation : {sql.split()[1:6]}")
    return row


def holder_to_show(db: Path) -> tuple[str, str]:
    """Name and birth date (JJ/MM/AAAA) of a holder with a DIF balance and a closed file."""
    nom, born = query_one(db, """
        SELECT h.nom_naissance, h.date_naissance FROM holder h
        WHERE h.dif_total_minutes > 0
          AND EXISTS (SELECT 1 FROM dossier d WHERE d.holder_id = h.id AND d.status = 'closed')
          AND (SELECT count(*) FROM hours_movement m WHERE m.holder_id = h.id) BETWEEN 5 AND 9
          AND (SELECT count(*) FROM holder o WHERE o.nom_naissance = h.nom_naissance
               AND o.date_naissance = h.date_naissance) = 1
        ORDER BY h.id LIMIT 1""")
    year, month, day = str(born)[:10].split("-")
    return nom, f"{day}/{month}/{year}"


def dossier_of(db: Path, identifier: str, status: str) -> tuple[str, str]:
    """NIR and number of a file in `status`, alone of its holder in the organisation of `identifier`."""
    nir, number = query_one(db, """
        SELECT h.nir, d.number FROM dossier d JOIN holder h ON h.id = d.holder_id
        WHERE d.status = ? AND d.organisation_id = (SELECT organisation_id FROM account WHERE identifier = ?)
          AND (SELECT count(*) FROM dossier o WHERE o.holder_id = d.holder_id
               AND o.organisation_id = d.organisation_id) = 1
        ORDER BY d.id DESC LIMIT 1""", status, identifier)
    return nir, number


def write_bad_sample(work: Path) -> Path:
    """A copy of the sample workbook with four mistakes, to show the error report."""
    from openpyxl import load_workbook

    workbook = load_workbook(work / SAMPLE)
    sheet = workbook["Habilitations"]
    headers = {cell.value: cell.column for cell in sheet[1]}
    sheet.cell(row=2, column=headers["E-mail"]).value = "stagiaire.001@formation"
    sheet.cell(row=3, column=headers["Profil"]).value = "Expert"
    sheet.cell(row=5, column=headers["E-mail"]).value = sheet.cell(row=4, column=headers["E-mail"]).value
    sheet.cell(row=6, column=headers["SIRET de l'établissement"]).value = "12345678901234"
    target = work / BAD_SAMPLE
    workbook.save(target)
    return target


# -- the walk-through ------------------------------------------------------------------------------------
def run(walk: Walk) -> None:
    print("Connexion, comptes de formation (construction de la base de formation)…")
    with walk.app(build=True) as term:
        walk.capture(term, "login", "Connexion à l'espace de gestion CPF", "Se connecter")
        term.keys("F3")
        walk.capture(term, "training-accounts", "Comptes de formation", "CDC2TRNG")
        term.keys("Escape")
    write_bad_sample(walk.work)
    holder_name, holder_birth = holder_to_show(walk.db)
    draft_nir, draft_number = dossier_of(walk.db, "GSTN4VAD", "draft")
    validated_nir, validated_number = dossier_of(walk.db, "GSTN5CTR", "validated")

    # A second session left idle from now on: the lock screen is captured at the end.
    lock_env = walk.env(CPF_TUI_SECURITY__IDLE_TIMEOUT_GESTIONNAIRE_MINUTES=str(LOCK_MINUTES))
    lock_term = Terminal(walk.command, env=lock_env, cwd=walk.work)
    lock_term.start()
    try:
        login(lock_term, "GSTN2CSN")
        wait_home(lock_term, "GSTN2CSN")
        idle_since = time.monotonic()
        walk_roles(walk, holder_name, holder_birth, draft_nir, draft_number, validated_nir, validated_number)
        print("Verrouillage après inactivité…")
        lock_term.step = "lock"
        remaining = max(0.0, LOCK_MINUTES * 60 - (time.monotonic() - idle_since))
        lock_term.wait_text("Session verrouillée", timeout=remaining + 30)
        walk.capture(lock_term, "lock", "Session verrouillée", "Mot de passe")
    finally:
        lock_term.close()


def walk_roles(walk: Walk, holder_name: str, holder_birth: str, draft_nir: str, draft_number: str,
               validated_nir: str, validated_number: str) -> None:
    print("Première connexion (PRNC4MTB)…")
    with walk.app() as term:
        login(term, "PRNC4MTB", FIRST_LOGIN_PASSWORD)
        walk.capture(term, "cgu", "Conditions générales d'utilisation — version", "Article 1")
        term.keys("o")
        term.wait_text("Choisissez votre mot de passe personnel")
        term.type(NEW_PASSWORD[:11])
        walk.capture(term, "password", "Choisissez votre mot de passe personnel", "Robustesse : Moyenne", "✔", "✘")
        term.type(NEW_PASSWORD[11:])
        term.wait_text("Robustesse : Excellente")
        term.keys("Enter")
        term.wait_cursor_below("Confirmation")
        term.type(NEW_PASSWORD)
        term.wait_text("✔ Confirmation identique")
        term.keys("Enter")
        wait_home(term, "PRNC4MTB")

    print("Opérateur CDC (CDC2TRNG)…")
    with walk.app() as term:
        login(term, "CDC2TRNG")
        walk.capture(term, "home-operator", "Identifiant : CDC2TRNG", "Sections", "Organismes")
        open_section(term, "operator", None, "Organismes")
        walk.capture(term, "organisations", "Organismes inscrits", "organisme(s)")

    print("Administrateur principal (PRNC2UNQ)…")
    with walk.app() as term:
        login(term, "PRNC2UNQ")
        walk.capture(term, "home-principal", "Identifiant : PRNC2UNQ", "Sections", "Utilisateurs")
        term.keys("C-p")
        walk.capture(term, "palette", "Rechercher une commande", "Se déconnecter")
        term.keys("Escape")
        term.wait_absent("Rechercher une commande")
        open_section(term, "principal_admin", "cloture", "Utilisateurs")
        term.step = "user-tree"
        term.wait_text("Gestion des utilisateurs", "Établissement de Lyon")
        term.keys("Down", "Down", "Enter")
        term.wait_text("(ADMD2SEC)")
        term.keys("Down", "Down")
        walk.capture(term, "user-tree", "Gestion des utilisateurs", "Rôle : Gestionnaire", "Statut :")
        term.keys("F1")
        walk.capture(term, "help", "Touches de cet écran", "Touches disponibles partout")
        term.keys("Escape")
        term.wait_absent("Touches de cet écran")
        term.keys("n")
        term.wait_text("Nouveau compte — Établissement de Lyon")
        term.keys("Tab", pause=0.6)
        term.keys("Enter")
        term.wait_text("Création", "Clôture")
        term.type("V")
        term.keys("Enter", pause=0.4)
        term.wait_line("Profil (gestionnaire)", "Validation")
        person = (("Nom", "Martin"), ("Prénom", "Julie"), ("E-mail", "julie.martin@institut-avenir.example"))
        for label, value in person:
            term.keys("Tab")
            term.wait_cursor_below(label, first=0)
            term.type(value)
        term.keys("Tab")  # the focused field is drawn as a frame: leave it so that every value shows
        for label, value in person:
            term.wait_line(label, value)
        walk.capture(term, "account-form", "Nouveau compte — Établissement de Lyon", "Validation", "Julie")
        term.keys("C-s")
        walk.capture(term, "identifier", "Compte créé", "Identifiant de Julie Martin")
        term.keys("Enter")
        term.wait_absent("Compte créé")
        term.keys("Escape")
        wait_home(term, "PRNC2UNQ")

        open_section(term, "principal_admin", "cloture", "Habilitation en masse")
        term.wait_text("Chemin du classeur .xlsx")
        term.keys("C-o")
        walk.capture(term, "bulk-picker", "Choisir un classeur .xlsx", SAMPLE)
        term.keys("Escape")
        term.wait_absent("Choisir un classeur .xlsx")
        term.type(BAD_SAMPLE)
        term.keys("Enter")
        walk.capture(term, "bulk-errors", f"« {BAD_SAMPLE} » refusé", "Ligne")
        term.keys("C-u")
        term.type(SAMPLE)
        term.keys("Enter")
        walk.capture(term, "bulk-checked", f"« {SAMPLE} » valide", "Ctrl+S pour importer")
        term.keys("C-s")
        term.wait_text("Créer 35 compte(s)")
        term.keys("o")
        walk.capture(term, "bulk-done", "compte(s) créé(s) pour", "Classeur de résultat")
        term.keys("Escape")
        wait_home(term, "PRNC2UNQ")

        open_section(term, "principal_admin", "cloture", "Journal d'audit")
        walk.capture(term, "journal", "événement(s)", "Acteur", "Création de com")
        term.keys("Escape")
        wait_home(term, "PRNC2UNQ")
        open_section(term, "principal_admin", "cloture", "Sessions ouvertes")
        walk.capture(term, "sessions", "Sessions ouvertes", "session(s) ouverte(s)", "GSTN2CSN")
        term.keys("Escape")
        wait_home(term, "PRNC2UNQ")
        open_section(term, "principal_admin", "cloture", "Planning")
        walk.capture(term, "planning", "Planning partenaires — état au", "Traitement des fich")

    print("Administrateur délégué (ADMD2SEC)…")
    with walk.app() as term:
        login(term, "ADMD2SEC")
        walk.capture(term, "home-delegated", "Identifiant : ADMD2SEC", "Sections", "Utilisateurs")

    print("Gestionnaire Consultation (GSTN2CSN)…")
    with walk.app() as term:
        login(term, "GSTN2CSN")
        walk.capture(term, "home-consultation", "Identifiant : GSTN2CSN", "Profil : Consultation", "Titulaires")
        open_section(term, "gestionnaire", "consultation", "Titulaires")
        term.wait_text("Titulaires — recherche")
        term.type(holder_name[:4])
        term.keys("Enter")
        term.wait_cursor_below("Né(e) le", first=0)
        term.type(holder_birth)
        term.keys("Enter")
        walk.capture(term, "holders", "titulaire(s) trouvé(s)", holder_birth)
        term.keys("Enter")
        walk.capture(term, "holder-page", "Historique du compte d'heures", "DIF disponible", "Consommat")
        term.keys("s")
        walk.capture(term, "holder-dif", "Solde DIF (120 h au maximum", "Justification")
        term.keys("Escape", "Escape", "Escape")
        wait_home(term, "GSTN2CSN")
        open_section(term, "gestionnaire", "consultation", "Dossiers de formation")
        walk.capture(term, "dossiers", "Page 1/", "Numéro", "Statut")

    print("Gestionnaire Création (GSTN3CRE)…")
    with walk.app() as term:
        login(term, "GSTN3CRE")
        wait_home(term, "GSTN3CRE")
        open_section(term, "gestionnaire", "creation", "Dossiers de formation")
        term.wait_text("Page 1/")
        term.keys("n")
        walk.capture(term, "dossier-new", "Nouveau dossier de formation", "Heures demandées")
        term.keys("Escape", "Escape")
        wait_home(term, "GSTN3CRE")
        open_section(term, "gestionnaire", "creation", "Titulaires")
        term.wait_text("Titulaires — recherche")
        term.type(holder_name[:4])
        term.keys("Enter")
        term.wait_cursor_below("Né(e) le", first=0)
        term.type(holder_birth)
        term.keys("Enter")
        term.wait_text("titulaire(s) trouvé(s)")
        term.keys("Enter")
        term.wait_text("Historique du compte d'heures", "CPF disponible", "Nouveau dossier")
        term.keys("n")
        term.wait_text("disponible : CPF")
        term.type("Bureautique")
        term.keys(*["Enter"] * 6)
        term.type("20 h")
        walk.capture(term, "dossier-from-holder", "disponible : CPF", "20 h")

    print("Gestionnaire Validation (GSTN4VAD)…")
    with walk.app() as term:
        login(term, "GSTN4VAD")
        wait_home(term, "GSTN4VAD")
        walk.capture(term, "home-validation", "À traiter", "À valider, plus anciens d'abord")
        open_dossier(term, "validation", draft_nir, draft_number)
        walk.capture(term, "dossier-draft", f"Dossier {draft_number}", "Historique")
        term.keys("F5")
        walk.capture(term, "dossier-validate-confirm", f"Valider le dossier {draft_number}", "Il restera")
        term.keys("Escape")
        term.wait_absent("Il restera")

    print("Gestionnaire Clôture (GSTN5CTR)…")
    with walk.app() as term:
        login(term, "GSTN5CTR")
        wait_home(term, "GSTN5CTR")
        open_dossier(term, "cloture", validated_nir, validated_number)
        walk.capture(term, "dossier-validated", f"Dossier {validated_number}", "Validé le")
        term.keys("F6")
        walk.capture(term, "dossier-close", f"Clôture du dossier {validated_number}", "Heures réalisées")
        term.keys("Escape")
        term.wait_absent("Heures réalisées")
        term.keys("F2")
        walk.capture(term, "exercises", "Exercices de formation", "exercice(s) terminé(s) sur", "[x]")


def open_dossier(term: Terminal, profile: str, nir: str, number: str) -> None:
    """From home: the files list filtered on the holder's NIR, then the file itself."""
    open_section(term, "gestionnaire", profile, "Dossiers de formation")
    term.wait_text("Page 1/")
    term.keys("/")
    term.wait_cursor_below("Titulaire : NIR ou nom", first=0)
    term.type(nir)
    term.wait_text(nir)
    term.keys("Enter")
    term.wait_text(number, "1 dossier(s) sur 1")
    term.keys("Enter")
    term.wait_text(f"Dossier {number}")


# -- the guide ---------------------------------------------------------------------------------------------
def markers(text: str) -> list[str]:
    return [match.group(2) for match in MARKER.finditer(text)]


def rewrite(text: str, captures: dict[str, str]) -> str:
    """`text` with every capture block replaced; an unknown marker is an error."""
    unknown = [name for name in markers(text) if name not in captures]
    if unknown:
        raise GuideError(f"aucune capture pour les marqueurs : {', '.join(unknown)}")

    def block(match: re.Match[str]) -> str:
        return f"{match.group(1)}```text\n{captures[match.group(2)]}\n```\n{match.group(4)}"

    return MARKER.sub(block, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Régénérer les captures d'écran du guide de l'utilisateur.")
    parser.add_argument("--guide", type=Path, default=GUIDE, help="guide à réécrire (docs/guide-utilisateur.md)")
    parser.add_argument("--keep", action="store_true", help="garder le dossier temporaire")
    args = parser.parse_args(argv)
    if TMUX is None:
        print("tmux est nécessaire pour produire les captures.", file=sys.stderr)
        return 2
    if not args.guide.is_file():
        print(f"Guide introuvable : {args.guide}", file=sys.stderr)
        return 2
    guide_text = args.guide.read_text(encoding="utf-8")
    if not markers(guide_text):
        print(f"Aucun marqueur <!-- capture:… --> dans {args.guide}.", file=sys.stderr)
        return 2
    cpf = Path(sys.executable).with_name("cpf-tui")
    if not cpf.exists():
        print(f"Commande introuvable : {cpf} (lancez le script avec .venv/bin/python).", file=sys.stderr)
        return 2
    work = Path(tempfile.gettempdir()) / WORK_DIR_NAME
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = work / "sandbox.sqlite3"
    walk = Walk(work, db, [str(cpf), "demo", "--db", str(db)], {})
    started = time.monotonic()
    try:
        run(walk)
        updated = rewrite(guide_text, walk.captures)
    except (GuideError, AssertionError) as exc:  # AssertionError: a wait of the tmux harness
        print(f"Échec : {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    args.guide.write_text(updated, encoding="utf-8")
    unused = sorted(set(walk.captures) - set(markers(guide_text)))
    print(f"{len(walk.captures)} capture(s) en {time.monotonic() - started:.0f} s ; {args.guide} mis à jour.")
    if unused:
        print(f"Captures sans marqueur dans le guide : {', '.join(unused)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
