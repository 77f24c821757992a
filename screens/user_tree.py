"""User management tree: organisation → establishments → administrators and gestionnaires, with the fiche.

Establishments are expanded lazily (a page of accounts at a time); the fiche descriptive of the
highlighted account is shown below the tree. Every action goes through `cpf_tui.services.accounts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.reactive import reactive
from textual.widgets import Static, Tree
from textual.worker import Worker
from textual.widgets.tree import TreeNode

from cpf_tui import clock
from cpf_tui.errors import CpfError
from cpf_tui.permissions import Capability
from cpf_tui.services import accounts
from cpf_tui.services.accounts import AccountDetail, AccountRow, EstablishmentNode
from cpf_tui.services.organisations import PersonInput
from cpf_tui.services.validation import format_phone
from models.enums import PROFILE_LABELS, Profile
from screens.account_form import FormField, FormScreen, IdentifierModal
from screens.base import CpfScreen
from screens.modals import ConfirmModal
from screens.widgets.keybar import KeyBar


@dataclass
class NodeInfo:
    """What a tree node stands for."""

    kind: str  # "organisation", "establishment", "account" or "more"
    id: int
    establishment_id: int | None = None
    offset: int = 0
    loaded: bool = False


def _date(moment: datetime | None) -> str:
    return clock.shown(moment)


def establishment_label(node: EstablishmentNode) -> Text:
    """Name, counts, then SIRET: what tells establishments apart comes first (80 columns, the tree's
    guides take up to 8). « Siège » is added only when the name does not already say it."""
    name = node.name
    if node.is_head_office and "siège" not in name.lower():
        name = f"Siège — {name}"
    text = Text(name, style="bold")
    counts = f" · {node.administrators} admin., {node.gestionnaires} gest."
    if node.deactivated:
        counts += f", {node.deactivated} désact."
    text.append(counts, style="dim")
    text.append(f" · {node.siret}", style="dim")
    return text


def account_label(row: AccountRow) -> Text:
    text = Text(f"{row.full_name} ({row.identifier})")
    text.append(f"  · {row.role_label}", style="dim")
    if row.role == "gestionnaire":
        text.append(f" · {row.profile_label}", style="dim")
    if not row.is_active:
        text.append(f" · {row.status_label}", style="italic")
    return text


def fiche_text(detail: AccountDetail) -> Text:
    """The fiche descriptive as plain text (user data never read as markup)."""
    status = detail.status_label + (" (verrouillé)" if detail.is_locked else "")
    if detail.password_is_temporary and detail.is_active:
        status += " — mot de passe temporaire"
    lines = [
        f"{detail.prenom} {detail.nom} — identifiant {detail.identifier}",
        f"Rôle : {detail.role_label}   Profil : {detail.profile_label}   Statut : {status}",
        f"E-mail : {detail.email}   Téléphone : {format_phone(detail.phone) or '—'}",
        f"Établissement : {detail.establishment_name or '—'}   Service : {detail.service or '—'}",
        f"Créé le {_date(detail.created_at)}{' par ' + detail.created_by if detail.created_by else ''}"
        f"   Dernière connexion : {_date(detail.last_login_at)}",
    ]
    return Text("\n".join(lines))


class UserTreeScreen(CpfScreen):
    """Organisation tree for administrators (and operators, for any organisation)."""

    BINDINGS = [
        Binding("n", "new_account", "Nouveau", tooltip="Créer un compte dans l'établissement sélectionné",
                id="tree-new-account"),
        Binding("e", "edit_account", "Modifier", tooltip="Modifier la fiche du compte affiché", id="tree-edit"),
        Binding("d", "deactivate", "Désactiver", tooltip="Désactiver le compte affiché (confirmation)",
                id="tree-deactivate"),
        Binding("r", "regenerate", "Régénérer", tooltip="Envoyer un nouveau mot de passe temporaire (confirmation)",
                id="tree-regenerate"),
        Binding("a", "add_establishment", "Établissement", tooltip="Ajouter un établissement secondaire",
                id="tree-add-establishment"),
        Binding("slash", "search", "Rechercher", tooltip="Rechercher un gestionnaire", id="tree-search"),
        Binding("f", "toggle_deactivated", "Désactivés", tooltip="Afficher ou masquer les comptes désactivés",
                id="tree-toggle-deactivated"),
        Binding("escape", "back", "Retour", tooltip="Revenir à l'écran précédent", id="tree-back"),
    ]

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    """The fiche goes below the tree at 80 columns, beside it from 120 columns."""

    page_size: int = accounts.PAGE_SIZE
    """Gestionnaires loaded per page when an establishment is expanded."""

    show_deactivated: reactive[bool] = reactive(False, bindings=True)
    current: reactive[AccountDetail | None] = reactive(None, bindings=True)

    ACTION_CAPABILITY = {
        "new_account": Capability.ACCOUNT_CREATE_GESTIONNAIRE, "add_establishment": Capability.ESTABLISHMENT_ADD,
        "edit_account": Capability.ACCOUNT_EDIT, "deactivate": Capability.ACCOUNT_DEACTIVATE,
        "regenerate": Capability.ACCOUNT_REGENERATE_PASSWORD,
    }

    def __init__(self, organisation_id: int | None = None) -> None:
        super().__init__()
        self.organisation_id = organisation_id
        self.establishments: dict[int, EstablishmentNode] = {}

    def compose(self) -> ComposeResult:
        yield Static("Gestion des utilisateurs", id="tree-title", markup=False)
        with Container(id="tree-body"):
            yield Tree(Text("Chargement…"), id="user-tree")
            yield Static(Text("Sélectionnez un compte pour afficher sa fiche descriptive."), id="account-fiche")
        yield KeyBar()

    @property
    def tree(self) -> Tree[NodeInfo]:
        return self.query_one("#user-tree", Tree)

    @property
    def fiche(self) -> Static:
        return self.query_one("#account-fiche", Static)

    def on_mount(self) -> None:
        self.tree.focus()
        self.load_root()

    # -- actions shown in the key bar ----------------------------------------------------------------
    def action_state(self, action: str) -> bool | None:
        if action in ("edit_account", "deactivate", "regenerate"):
            if self.current is None or not self.current.can_manage:
                return None
            if action != "edit_account" and not self.current.is_active:
                return None
        return True

    _KEY_ACTIONS = {"e": "edit_account", "d": "deactivate", "r": "regenerate"}

    def refusal(self, action: str) -> str:
        """Why `action` is greyed for the account under the cursor (empty: it is not)."""
        detail = self.current
        if detail is None or self.action_state(action):
            return ""
        if not detail.can_manage:
            session = self.session
            if session is not None and detail.id == session.account_id:
                return "Vous ne pouvez pas effectuer cette action sur votre propre compte."
            return ("Vous ne pouvez pas agir sur ce compte : il est de niveau égal ou supérieur au vôtre, "
                    "ou hors de votre périmètre.")
        return "Ce compte est désactivé : il n'a plus de mot de passe à régénérer ni à désactiver."

    def on_key(self, event: events.Key) -> None:
        """A greyed key pressed on an account says why, instead of doing nothing."""
        action = self._KEY_ACTIONS.get(event.key)
        if action is not None and self.may(self.ACTION_CAPABILITY[action]):
            reason = self.refusal(action)
            if reason:
                self.notify(reason, title="Action impossible", severity="warning", markup=False)

    def show_error(self, error: CpfError, worker: Worker[object]) -> bool:
        """A tree that could not be read says why in the fiche's place (and the App notifies it)."""
        if self.tree.root.data is None:
            self.fiche.update(Text(error.message))
        return False

    # -- loading ------------------------------------------------------------------------------------
    @work(exclusive=True, group="tree-root", exit_on_error=False)
    async def load_root(self, reveal: int | None = None) -> None:
        """(Re)load the organisation and its establishments; then put the cursor on account `reveal`."""
        await self._load_root()
        if reveal is not None:
            await self._reveal(reveal)

    async def _load_root(self) -> None:
        header = await accounts.organisation_header(self.ctx, self.organisation_id)
        self.organisation_id = header.id
        nodes = await accounts.establishment_nodes(self.ctx, header.id)
        organisation_label = f"{header.raison_sociale} ({header.siret})"
        expanded = {
            child.data.id for child in self.tree.root.children if child.data is not None and child.is_expanded
        }
        self.establishments = {n.id: n for n in nodes}
        root = self.tree.root
        root.remove_children()
        root.data = NodeInfo("organisation", self.organisation_id, loaded=True)
        root.set_label(Text(organisation_label, style="bold"))
        for node in nodes:
            child = root.add(establishment_label(node), NodeInfo("establishment", node.id, node.id))
            if node.id in expanded or len(nodes) == 1:
                child.expand()
        root.expand()

    @on(Tree.NodeExpanded, "#user-tree")
    def _expanded(self, event: Tree.NodeExpanded[NodeInfo]) -> None:
        info = event.node.data
        if info is not None and info.kind == "establishment" and not info.loaded:
            info.loaded = True
            self.load_accounts(event.node, 0)

    @work(group="tree-accounts", exit_on_error=False)
    async def load_accounts(self, node: TreeNode[NodeInfo], offset: int) -> None:
        await self._load_page(node, offset)

    async def _load_page(self, node: TreeNode[NodeInfo], offset: int) -> None:
        """Add a page of the establishment's accounts under `node`."""
        info = node.data
        assert info is not None
        page = await accounts.establishment_accounts(
            self.ctx, info.id, include_deactivated=self.show_deactivated, offset=offset, limit=self.page_size,
        )
        for row in [*page.administrators, *page.gestionnaires]:
            node.add_leaf(account_label(row), NodeInfo("account", row.id, info.id))
        if page.has_more:
            remaining = page.gestionnaires_total - page.offset - len(page.gestionnaires)
            node.add_leaf(
                Text(f"… afficher les {min(remaining, page.limit)} suivants (encore {remaining})", style="italic"),
                NodeInfo("more", info.id, info.id, offset=page.offset + len(page.gestionnaires)),
            )
        if not node.children:
            node.add_leaf(Text("(aucun compte)", style="dim"), NodeInfo("empty", info.id, info.id))

    @on(Tree.NodeSelected, "#user-tree")
    def _selected(self, event: Tree.NodeSelected[NodeInfo]) -> None:
        info = event.node.data
        if info is not None and info.kind == "more" and event.node.parent is not None:
            parent = event.node.parent
            event.node.remove()
            self.load_accounts(parent, info.offset)

    @on(Tree.NodeHighlighted, "#user-tree")
    def _highlighted(self, event: Tree.NodeHighlighted[NodeInfo]) -> None:
        """The fiche always shows what the cursor is on: an account's fiche, or nothing to act on."""
        info = event.node.data
        if info is not None and info.kind == "account":
            self.show_fiche(info.id)
            return
        self.workers.cancel_group(self, "fiche")
        self.current = None
        if info is not None and info.kind == "establishment" and info.id in self.establishments:
            node = self.establishments[info.id]
            self.fiche.update(Text(f"Établissement : {node.name} ({node.siret})\n"
                                   "Choisissez un compte pour afficher sa fiche ; n : nouveau compte ici."))
        else:
            self.fiche.update(Text("Sélectionnez un compte pour afficher sa fiche descriptive."))

    @work(exclusive=True, group="tree-reveal", exit_on_error=False)
    async def reveal_account(self, account_id: int) -> None:
        await self._reveal(account_id)

    async def _reveal(self, account_id: int) -> None:
        """Put the cursor on the account (its establishment expanded and loaded): its fiche follows."""
        detail = await accounts.account_detail(self.ctx, account_id)
        node = next((child for child in self.tree.root.children
                     if child.data is not None and child.data.id == detail.establishment_id), None)
        if node is None or node.data is None:
            self.current = detail
            self.fiche.update(fiche_text(detail))
            return
        if not node.data.loaded:
            node.data.loaded = True
            await self._load_page(node, 0)
        leaf = next((child for child in node.children
                     if child.data is not None and child.data.kind == "account" and child.data.id == account_id), None)
        if leaf is None:  # beyond the loaded page, or deactivated while they are hidden: shown anyway
            label = Text(f"{detail.prenom} {detail.nom} ({detail.identifier})")
            label.append(f"  · {detail.role_label}", style="dim")
            if not detail.is_active:
                label.append(f" · {detail.status_label}", style="italic")
            leaf = node.add_leaf(label, NodeInfo("account", account_id, node.data.id))
        node.expand()
        self.tree.focus()
        _ = self.tree.last_line  # lays the expanded lines out now, so that the leaf has its line
        self.tree.move_cursor(leaf)

    @work(exclusive=True, group="fiche", exit_on_error=False)
    async def show_fiche(self, account_id: int) -> None:
        detail = await accounts.account_detail(self.ctx, account_id)
        self.current = detail
        self.fiche.update(fiche_text(detail))

    def selected_establishment_id(self) -> int | None:
        node = self.tree.cursor_node
        if node is None or node.data is None or node.data.kind == "organisation":
            return None
        return node.data.establishment_id

    # -- actions ------------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_toggle_deactivated(self) -> None:
        self.show_deactivated = not self.show_deactivated
        self.notify("Comptes désactivés affichés." if self.show_deactivated else "Comptes désactivés masqués.")
        for child in self.tree.root.children:
            if child.data is not None:
                child.data.loaded = False
                child.remove_children()
                if child.is_expanded:
                    child.data.loaded = True
                    self.load_accounts(child, 0)

    def action_add_establishment(self) -> None:
        from cpf_tui.services.organisations import add_establishment

        organisation_id = self.organisation_id
        if organisation_id is None:
            return
        fields = [
            FormField("siret", "SIRET", max_length=20),
            FormField("name", "Nom de l'établissement", max_length=200),
            FormField("address", "Adresse (facultatif)", max_length=300),
        ]

        async def submit(values: dict[str, str]) -> int:
            return await add_establishment(self.ctx, organisation_id, siret=values["siret"],
                                           name=values["name"], address=values["address"])

        def done(establishment_id: int | None) -> None:
            if establishment_id is not None:
                self.notify("Établissement ajouté.", title="Établissement")
                self.load_root()

        self.app.push_screen(
            FormScreen("Ajouter un établissement secondaire", fields, submit,
                       intro="Son SIRET doit avoir le même SIREN (9 premiers chiffres) que l'organisme."),
            done,
        )

    def action_search(self) -> None:
        from screens.user_search import UserSearchScreen

        def chosen(account_id: int | None) -> None:
            if account_id is not None:
                self.reveal_account(account_id)

        self.app.push_screen(UserSearchScreen(self.organisation_id, list(self.establishments.values())), chosen)

    def _establishment_options(self) -> list[tuple[str, str]]:
        return [(n.name, str(n.id)) for n in self.establishments.values()]

    def _person_fields(self, detail: AccountDetail | None = None) -> list[FormField]:
        return [
            FormField("nom", "Nom", detail.nom if detail else "", max_length=100),
            FormField("prenom", "Prénom", detail.prenom if detail else "", max_length=100),
            FormField("email", "E-mail", detail.email if detail else ""),
            FormField("phone", "Téléphone (facultatif)", format_phone(detail.phone) if detail else "",
                      max_length=32),
            FormField("service", "Service (facultatif)", detail.service if detail else "", max_length=200),
        ]

    def action_new_account(self) -> None:
        establishment_id = self.selected_establishment_id()
        if establishment_id is None:
            self.notify("Choisissez d'abord un établissement dans l'arbre.", title="Nouveau compte",
                        severity="warning")
            return
        roles = [("Gestionnaire", "gestionnaire")]
        if self.may(Capability.ACCOUNT_CREATE_DELEGATED):
            roles.insert(0, ("Administrateur délégué", "delegated_admin"))
        profiles = [(PROFILE_LABELS[p], p.value) for p in Profile]
        name = self.establishments[establishment_id].name if establishment_id in self.establishments else ""
        fields = [
            FormField("role", "Rôle", roles[-1][1], options=roles),
            FormField("profile", "Profil (gestionnaire)", Profile.CONSULTATION.value, options=profiles),
            *self._person_fields(),
        ]

        async def submit(values: dict[str, str]) -> accounts.CreatedAccount:
            return await accounts.create_account(
                self.ctx, role=values["role"], profile=values["profile"], establishment_id=establishment_id,
                person=PersonInput(values["nom"], values["prenom"], values["email"], values["phone"],
                                   values["service"]),
                security=self.settings.security,
            )

        def done(created: accounts.CreatedAccount | None) -> None:
            if created is None:
                return
            self.app.push_screen(IdentifierModal("Compte créé", created.identifier, created.full_name,
                                                 email=created.email))
            self.load_root(reveal=created.id)

        self.app.push_screen(
            FormScreen(f"Nouveau compte — {name}", fields, submit,
                       intro="Un administrateur délégué a toujours le profil Clôture."),
            done,
        )

    def action_edit_account(self) -> None:
        detail = self.current
        if detail is None:
            return
        fields = self._person_fields(detail)
        if detail.role == "gestionnaire":
            fields.insert(0, FormField("profile", "Profil", detail.profile,
                                       options=[(PROFILE_LABELS[p], p.value) for p in Profile]))
        if detail.role != "principal_admin" and len(self.establishments) > 1:
            fields.append(FormField("establishment", "Établissement", str(detail.establishment_id),
                                    options=self._establishment_options()))

        async def submit(values: dict[str, str]) -> int:
            return await accounts.edit_account(
                self.ctx, detail.id,
                PersonInput(values["nom"], values["prenom"], values["email"], values["phone"], values["service"]),
                expected_version=detail.version,
                establishment_id=int(values["establishment"]) if values.get("establishment") else None,
                profile=values.get("profile") or None,
            )

        def done(version: int | None) -> None:
            if version is not None:
                self.notify("Fiche enregistrée.", title="Modification")
                self.load_root(reveal=detail.id)

        self.app.push_screen(FormScreen(f"Modifier la fiche de {detail.prenom} {detail.nom}", fields, submit), done)

    @work(exclusive=True, group="tree-action", exit_on_error=False)
    async def action_deactivate(self) -> None:
        detail = self.current
        if detail is None:
            return
        question = f"Désactiver le compte de {detail.prenom} {detail.nom} ({detail.identifier}) ?"
        if not await self.app.push_screen_wait(ConfirmModal(question, "Désactiver", "Annuler")):
            return
        await accounts.deactivate_account(self.ctx, detail.id)
        self.notify(f"Compte {detail.identifier} désactivé.", title="Désactivation")
        self.load_root(reveal=detail.id)

    @work(exclusive=True, group="tree-action", exit_on_error=False)
    async def action_regenerate(self) -> None:
        detail = self.current
        if detail is None:
            return
        question = (f"Envoyer un nouveau mot de passe temporaire à {detail.prenom} {detail.nom} "
                    f"({detail.email}) ? Ses sessions ouvertes seront fermées.")
        if not await self.app.push_screen_wait(ConfirmModal(question, "Régénérer", "Annuler")):
            return
        await accounts.regenerate_password(self.ctx, detail.id, security=self.settings.security)
        self.notify(f"Nouveau mot de passe temporaire envoyé par courriel à {detail.email}.", title="Mot de passe")
        self.show_fiche(detail.id)
