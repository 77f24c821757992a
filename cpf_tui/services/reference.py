"""Reference data from the kit: CGU version 1, the partners' planning and the CDC contact."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from models import CguVersion, PlanningMilestone
CONTACT_EMAIL = "CPF-gestion@caissedesdepots.fr"
CONTACT_POSTAL = ("Caisse des dépôts", "Compte personnel de formation", "24, rue Louis Gain", "49939 ANGERS Cedex 9")

CGU_VERSION = 1
CGU_PUBLISHER = "Caisse des dépôts"
CGU_TEXT = f"""\
CONDITIONS GÉNÉRALES D'UTILISATION DE L'ESPACE PRIVÉ DE GESTION DU PORTAIL CPF
Version 1

Article 1 — Objet
Les présentes conditions générales d'utilisation (CGU) définissent les règles d'accès et d'usage de
l'espace privé de gestion du portail du Compte personnel de formation (portail CPF), mis à disposition
par la Caisse des dépôts et consignations (CDC) des professionnels de l'emploi et de la formation
professionnelle. Cet espace permet de consulter le compte d'heures des titulaires, de mettre à jour
leurs coordonnées et leur solde DIF, et d'instruire leurs dossiers de formation, dans la limite du
profil attribué à chaque utilisateur.

Article 2 — Accès à l'espace privé
L'accès est réservé aux personnes habilitées par leur organisme : administrateur principal (unique par
organisme), administrateurs délégués et gestionnaires. Chaque habilitation est personnelle. L'organisme
inscrit auprès de la CDC est responsable des habilitations qu'il accorde et de leur retrait lorsqu'une
personne quitte ses fonctions. L'accès au service peut être interrompu pour maintenance ou pour des
raisons de sécurité.

Article 3 — Identifiant, mot de passe et confidentialité
Chaque utilisateur dispose d'un identifiant unique et d'un mot de passe strictement personnels. Le mot
de passe temporaire reçu par courriel doit être changé à la première connexion. Le mot de passe choisi
respecte les règles de sécurité affichées à l'écran et ne doit être communiqué à personne, y compris à
un administrateur ou à un agent de la CDC, qui ne le demanderont jamais. En cas de perte, d'oubli ou de
suspicion de compromission, l'utilisateur demande sans délai à son administrateur la régénération de
son mot de passe. Après plusieurs tentatives de connexion infructueuses, le compte est verrouillé.
Toute session inactive est verrouillée automatiquement.

Article 4 — Obligations de l'utilisateur
L'utilisateur s'engage à n'utiliser l'espace privé que pour les besoins de sa mission, à ne consulter
que les informations nécessaires à l'instruction des dossiers dont il a la charge, à saisir des
informations exactes et justifiées (notamment le solde DIF, sur la base d'un justificatif), à ne pas
extraire ni réutiliser les données à d'autres fins, et à ne pas tenter d'accéder à des fonctions ou à
des données pour lesquelles il n'est pas habilité. Toute action est enregistrée et peut être contrôlée.

Article 5 — Données personnelles
Les données des titulaires (identité, numéro de sécurité sociale, coordonnées, heures acquises et
mobilisées) et celles des utilisateurs (identité, coordonnées, journal des connexions et des actions)
sont traitées par la CDC pour la gestion du Compte personnel de formation, en application du Code du
travail et conformément au règlement général sur la protection des données (RGPD) et à la loi
« Informatique et libertés ». Elles ne sont accessibles qu'aux personnes habilitées et conservées pour
la durée nécessaire à la gestion des droits, puis archivées selon les obligations légales. Toute
personne concernée dispose d'un droit d'accès, de rectification, de limitation et d'opposition dans les
conditions prévues par la réglementation, en écrivant à l'adresse de contact ci-dessous. Elle peut
introduire une réclamation auprès de la CNIL.

Article 6 — Responsabilité
L'utilisateur est responsable des opérations effectuées avec son identifiant. La CDC met en œuvre les
moyens nécessaires à la sécurité et à la disponibilité du service, sans pouvoir garantir une
disponibilité permanente. Un manquement aux présentes conditions peut entraîner la désactivation du
compte, sans préjudice d'éventuelles poursuites.

Article 7 — Évolution des conditions
La CDC peut modifier les présentes conditions. Toute nouvelle version est présentée à l'utilisateur à
sa connexion suivante et doit être acceptée pour continuer à utiliser l'espace privé.

Article 8 — Contact
Pour toute question : {CONTACT_EMAIL}
{", ".join(CONTACT_POSTAL)}.
"""


@dataclass(frozen=True)
class MilestoneLine:
    """One line of the kit's "Planning partenaires", with dates as written."""

    action: str
    responsible: str
    start_text: str
    end_text: str


PLANNING: tuple[MilestoneLine, ...] = (
    MilestoneLine("Ouverture du portail CPF espace public", "", "11-2014", ""),
    MilestoneLine("Retour du kit d'inscription à la CDC", "Partenaire", "", "Sous 8 jours"),
    MilestoneLine("Création organismes et administrateurs principaux", "CDC", "17-11-2014", "31-12-2014"),
    MilestoneLine("Habilitations des gestionnaires", "", "01-12-2014", ""),
    MilestoneLine("Habilitation par fichier : création du fichier et envoi à la CDC", "Partenaire", "",
                  "12-12-2014"),
    MilestoneLine("Traitement des fichiers d'habilitation", "CDC", "15-12-2014", "31-12-2014"),
    MilestoneLine("Habilitation manuelle des gestionnaires", "Partenaire", "01-2015", ""),
    MilestoneLine("Formation des formateurs relais en présentiel", "CDC", "12-2014", "02-2015"),
    MilestoneLine("Ouverture du portail CPF (espace privé)", "", "01-2015", ""),
)

_DAY = re.compile(r"^(\d{2})-(\d{2})-(\d{4})$")
_MONTH = re.compile(r"^(\d{2})-(\d{4})$")


def parse_kit_date(value: str, *, end: bool = False) -> date | None:
    """`17-11-2014` → that day, `11-2014` → first (or, for an end, last) day of the month, else None."""
    value = value.strip()
    if match := _DAY.match(value):
        day, month, year = (int(part) for part in match.groups())
        return date(year, month, day)
    if match := _MONTH.match(value):
        month, year = (int(part) for part in match.groups())
        return date(year, month, calendar.monthrange(year, month)[1] if end else 1)
    return None


async def load_reference_data() -> dict[str, int]:
    """Insert CGU v1 and the planning when missing (idempotent); returns what was created."""
    from tortoise.transactions import in_transaction


    created = {"cgu": 0, "planning": 0}
    async with in_transaction() as conn:
        if not await CguVersion.filter(version=CGU_VERSION).using_db(conn).exists():
            await CguVersion.create(version=CGU_VERSION, text=CGU_TEXT, published_by=CGU_PUBLISHER, using_db=conn)
            created["cgu"] = 1
        if not await PlanningMilestone.all().using_db(conn).exists():
            for position, line in enumerate(PLANNING, start=1):
                await PlanningMilestone.create(
                    position=position,
                    action=line.action,
                    responsible=line.responsible,
                    start_text=line.start_text,
                    end_text=line.end_text,
                    start_date=parse_kit_date(line.start_text),
                    end_date=parse_kit_date(line.end_text, end=True),
                    using_db=conn,
                )
            created["planning"] = len(PLANNING)
    return created
