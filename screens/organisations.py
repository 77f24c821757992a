"""CDC operator back office: organisations grouped by SIREN, registration, establishments, principals."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from cpf_tui.permissions import Capability
from cpf_tui.services import organisations as orgs
from models.enums import StructureType
from screens.account_form import FormField, FormScreen, IdentifierModal
from screens.base import CpfScreen
from screens.modals import ConfirmModal
from screens.widgets.keybar import KeyBar
from screens.widgets.table import CpfTable


def person_fields(prefix: str = "admin_") -> list[FormField]:
    return [
        FormField(f"{prefix}nom", "Nom", max_length=100),
        FormField(f"{prefix}prenom", "Prénom", max_length=100),
        FormField(f"{prefix}email", "E-mail"),
        FormField(f"{prefix}phone", "Téléphone", placeholder="01 23 45 67 89", max_length=32),
    ]


def person_of(values: dict[str, str], prefix: str = "admin_") -> orgs.PersonInput:
    return orgs.PersonInput(values[f"{prefix}nom"], values[f"{prefix}prenom"], values[f"{prefix}email"],
                            values[f"{prefix}phone"])


def named(values: dict[str, str], prefix: str = "admin_") -> dict[str, str]:
    """The person a saved form created, as the identifier dialog names it (name and e-mail address)."""
    who = " ".join(f"{values[f'{prefix}prenom']} {values[f'{prefix}nom']}".split())
    return {"who": who, "email": values[f"{prefix}email"].strip()}


class OrganisationsScreen(CpfScreen):
    """The list of organisations (grouped by SIREN) and the operator's actions on them."""

    BINDINGS = [
        Binding("slash", "focus_search", "Rechercher", tooltip="Filtrer par raison sociale ou SIRET",
                id="orgs-search"),
        Binding("n", "register", "Inscrire", tooltip="Inscrire un organisme et son administrateur principal",
                id="orgs-register"),
        Binding("a", "add_establishment", "Établissement", tooltip="Ajouter un établissement secondaire",
                id="orgs-add-establishment"),
        Binding("p", "replace_principal", "Remplacer l'admin.", tooltip="Remplacer l'administrateur principal",
                id="orgs-replace-principal"),
        Binding("o", "create_operator", "Opérateur", tooltip="Créer un autre opérateur CDC",
                id="orgs-create-operator"),
        Binding("enter", "open_tree", "Utilisateurs", tooltip="Ouvrir l'arbre des utilisateurs de l'organisme",
                id="orgs-open-tree"),
        Binding("escape", "back", "Retour", tooltip="Revenir à l'accueil", id="orgs-back"),
    ]

    ACTION_CAPABILITY = {
        "register": Capability.ORGANISATION_REGISTER, "add_establishment": Capability.ESTABLISHMENT_ADD,
        "replace_principal": Capability.PRINCIPAL_REPLACE, "create_operator": Capability.OPERATOR_CREATE,
    }
    MESSAGE_ID = "orgs-count"
    TYPE_TO_SEARCH = "#orgs-search-input"

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[int, orgs.OrganisationRow] = {}

    def compose(self) -> ComposeResult:
        yield Static("Organismes inscrits (regroupés par SIREN)", id="orgs-title", markup=False)
        yield Input(placeholder="/ Rechercher : raison sociale, SIRET ou SIREN", id="orgs-search-input",
                    max_length=100)
        yield CpfTable(id="orgs-table")
        yield Static("", id="orgs-count", markup=False)
        yield KeyBar()

    @property
    def table(self) -> CpfTable:
        return self.query_one("#orgs-table", CpfTable)

    def on_mount(self) -> None:
        # The SIRET is shown as « SIREN NIC »: its first nine digits are the SIREN the rows are grouped by
        # (a SIREN column of its own left no room for « Comptes » at 80 columns).
        self.table.add_columns("SIRET", "Raison sociale", "Structure", "Admin. principal", "Étab.", "Comptes")
        self.table.focus()
        self.load()

    def action_state(self, action: str) -> bool | None:
        return not (action == "open_tree" and isinstance(self.focused, Input))

    @work(exclusive=True, group="orgs", exit_on_error=False)
    async def load(self) -> None:
        query = self.query_one("#orgs-search-input", Input).value
        groups = await orgs.list_organisations(self.ctx, query)
        self.rows = {row.id: row for group in groups for row in group.organisations}
        self.table.replace_rows(
            ((Text(f"{row.siret[:9]} {row.siret[9:]}"), Text(row.raison_sociale), Text(row.structure_short),
              Text(row.principal_label), str(row.establishments), str(row.accounts)),
             str(row.id))
            for group in groups for row in group.organisations
        )
        self.show_message(f"{len(self.rows)} organisme(s), {len(groups)} SIREN")

    @on(Input.Changed, "#orgs-search-input")
    def _search_changed(self) -> None:
        self.load()

    @on(Input.Submitted, "#orgs-search-input")
    def _search_done(self) -> None:
        self.table.focus()

    def action_focus_search(self) -> None:
        self.query_one("#orgs-search-input", Input).focus()

    def action_back(self) -> None:
        if isinstance(self.focused, Input):
            self.table.focus()
            return
        self.app.pop_screen()

    def selected(self) -> orgs.OrganisationRow | None:
        table = self.table
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.rows.get(int(key)) if key else None

    @on(DataTable.RowSelected, "#orgs-table")
    def _row_chosen(self) -> None:
        self.action_open_tree()

    def action_open_tree(self) -> None:
        from screens.user_tree import UserTreeScreen

        row = self.selected()
        if row is not None:
            self.app.push_screen(UserTreeScreen(row.id))

    def _refresh_after(self, result: object) -> None:
        if result is not None:
            self.load()

    def action_register(self) -> None:
        fields = [
            FormField("raison_sociale", "Raison sociale", max_length=200),
            FormField("siret", "SIRET", placeholder="14 chiffres", max_length=20),
            FormField("address", "Adresse", max_length=300),
            FormField("contact_email", "E-mail de contact"),
            FormField("structure_type", "Type de structure", StructureType.UNIQUE.value,
                      options=[(t.label, t.value) for t in StructureType]),
            *person_fields(),
        ]

        person: dict[str, str] = {}

        async def submit(values: dict[str, str]) -> orgs.Registration:
            person.update(named(values))
            return await orgs.register_organisation(
                self.ctx,
                orgs.OrganisationInput(values["raison_sociale"], values["siret"], values["address"],
                                       values["contact_email"], values["structure_type"]),
                person_of(values), security=self.settings.security,
            )

        def done(result: orgs.Registration | None) -> None:
            if result is None:
                return
            self.load()
            self.app.push_screen(IdentifierModal("Organisme inscrit", result.principal_identifier, **person,
                                                 identifier_mailed=True))

        self.app.push_screen(
            FormScreen("Inscrire un organisme", fields, submit,
                       intro="Administrateur principal : il reçoit son mot de passe temporaire par courriel."),
            done,
        )

    def action_add_establishment(self) -> None:
        row = self.selected()
        if row is None:
            return
        fields = [
            FormField("siret", "SIRET", row.siren, max_length=20, completes=True),  # the NIC's 5 digits follow
            FormField("name", "Nom de l'établissement", max_length=200),
            FormField("address", "Adresse (facultatif)", max_length=300),
        ]

        async def submit(values: dict[str, str]) -> int:
            return await orgs.add_establishment(self.ctx, row.id, siret=values["siret"],
                                                name=values["name"], address=values["address"])

        self.app.push_screen(
            FormScreen(f"Établissement secondaire de {row.raison_sociale}", fields, submit,
                       intro=f"Le SIRET doit commencer par le SIREN de l'organisme : {row.siren}."),
            self._refresh_after,
        )

    def action_replace_principal(self) -> None:
        row = self.selected()
        if row is None:
            return
        expected = row.principal_id

        person: dict[str, str] = {}

        async def submit(values: dict[str, str]) -> tuple[int, str]:
            person.update(named(values))
            return await orgs.replace_principal(self.ctx, row.id, person_of(values),
                                                expected_principal_id=expected,
                                                security=self.settings.security)

        def replaced(result: tuple[int, str] | None) -> None:
            if result is not None:
                self.load()
                self.app.push_screen(IdentifierModal("Administrateur principal remplacé", result[1], **person,
                                                     identifier_mailed=True))

        def confirmed(answer: bool | None) -> None:
            if answer:
                self.app.push_screen(
                    FormScreen(f"Nouvel administrateur principal — {row.raison_sociale}", person_fields(), submit),
                    replaced,
                )

        if expected is None:
            confirmed(True)
            return
        question = (f"Remplacer l'administrateur principal de {row.raison_sociale} ({row.principal_label}) ? "
                    "L'actuel sera désactivé.")
        self.app.push_screen(ConfirmModal(question, "Remplacer", "Annuler"), confirmed)

    def action_create_operator(self) -> None:
        person: dict[str, str] = {}

        async def submit(values: dict[str, str]) -> tuple[int, str]:
            person.update(named(values, ""))
            return await orgs.create_operator(self.ctx, person_of(values, ""),
                                              security=self.settings.security)

        def done(result: tuple[int, str] | None) -> None:
            if result is not None:
                self.app.push_screen(IdentifierModal("Opérateur créé", result[1], **person))

        self.app.push_screen(FormScreen("Créer un opérateur CDC", person_fields(""), submit), done)
