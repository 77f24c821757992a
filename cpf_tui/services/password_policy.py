"""Password rules (CNIL recommendation 2022-100 as the floor): one small pure function per rule.

Each rule returns the French reason of a refusal, or None. `evaluate` runs them all and returns every
reason at once; `checklist` gives the live view shown while the user types (see docs/security.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cpf_tui.text import fold

MIN_LENGTH_WITH_SPECIAL = 12
MIN_LENGTH_WITHOUT_SPECIAL = 14
MAX_LENGTH = 128
MIN_PERSONAL_PART = 3
ZXCVBN_WINDOW = 48
"""The estimator sees the first 48 characters: its cost grows quickly with length, and beyond 48 only
repeated patterns matter, which already show in the first 48."""
APPLICATION_WORDS = ("cpf", "compte personnel de formation", "formation", "caisse des depots", "gestion")
"""Words anyone would try first against this application, given to zxcvbn as user inputs."""

FRENCH_COMMON_WORDS = (
    "azerty", "motdepasse", "marseille", "doudou", "loulou", "soleil", "chouchou", "bonjour", "jetaime",
    "nicolas", "camille", "julien", "thomas", "chocolat", "princesse", "coucou", "amour", "mamour", "toulouse",
    "bordeaux", "paris", "france", "lyon", "nantes", "lille", "maison", "vacances", "football", "olivier",
    "vivelavie", "celine", "isabelle", "nathalie", "sandrine", "stephanie", "sebastien", "alexandre",
    "antoine", "maxime", "nounours", "poussin", "tresor", "cheval", "chaton", "chien", "lapin", "papillon",
    "etoile", "bisous", "salut", "merci", "bienvenue", "secret", "azertyuiop", "qsdfghjklm", "wxcvbn",
    "motdepass", "mdp", "compte", "personnel", "caisse", "depots", "gestionnaire", "administrateur",
    "utilisateur", "organisme", "janvier", "fevrier", "mars", "avril", "juin", "juillet", "aout",
    "septembre", "octobre", "novembre", "decembre", "lundi", "mardi", "mercredi", "jeudi", "vendredi",
    "samedi", "dimanche", "printemps", "automne", "hiver",
)
"""French words that zxcvbn's English dictionaries do not know, most common first (French password leaks)."""

STRENGTH_LABELS = ("Très faible", "Faible", "Moyenne", "Bonne", "Excellente")
_french_words_registered = False

_SEPARATORS = re.compile(r"[\s.\-_'’+@]+")


@dataclass(frozen=True)
class PersonalInfo:
    """What a password must not contain: the account's identifier, names and e-mail local part."""

    identifier: str = ""
    nom: str = ""
    prenom: str = ""
    email: str = ""

    @property
    def email_local_part(self) -> str:
        return self.email.split("@", 1)[0]

    def parts(self) -> list[str]:
        """Folded words of at least three characters (whole values and their pieces)."""
        found: list[str] = []
        for value in (self.identifier, self.nom, self.prenom, self.email_local_part):
            folded = fold(value)
            pieces = [p for p in _SEPARATORS.split(folded) if p]
            for candidate in [_SEPARATORS.sub("", folded), *pieces]:
                if len(candidate) >= MIN_PERSONAL_PART and candidate not in found:
                    found.append(candidate)
        return found


@dataclass(frozen=True)
class CheckItem:
    """One line of the live checklist: `ok` is None when it can only be checked on submission."""

    key: str
    label: str
    ok: bool | None


# -- character classes ------------------------------------------------------------------------
def has_upper(password: str) -> bool:
    return any(ch.isupper() for ch in password)


def has_lower(password: str) -> bool:
    return any(ch.islower() for ch in password)


def has_digit(password: str) -> bool:
    return any(ch.isdigit() for ch in password)


def has_special(password: str) -> bool:
    """Any character that is neither a letter nor a digit (punctuation, symbols, spaces)."""
    return any(not ch.isalnum() for ch in password)


# -- rules ---------------------------------------------------------------------------------------
def rule_max_length(password: str) -> str | None:
    if len(password) > MAX_LENGTH:
        return f"Le mot de passe dépasse {MAX_LENGTH} caractères ({len(password)})."
    return None


def rule_composition(password: str) -> str | None:
    """12 characters with upper, lower, digit and special, or 14 with upper, lower and digit."""
    upper, lower, digit, special = has_upper(password), has_lower(password), has_digit(password), has_special(password)
    long_enough = len(password) >= MIN_LENGTH_WITHOUT_SPECIAL or (
        len(password) >= MIN_LENGTH_WITH_SPECIAL and special
    )
    if upper and lower and digit and long_enough:
        return None
    missing = []
    if len(password) < MIN_LENGTH_WITH_SPECIAL:
        missing.append(f"au moins {MIN_LENGTH_WITH_SPECIAL} caractères")
    if not upper:
        missing.append("une majuscule")
    if not lower:
        missing.append("une minuscule")
    if not digit:
        missing.append("un chiffre")
    if not special and len(password) < MIN_LENGTH_WITHOUT_SPECIAL:
        missing.append(f"un caractère spécial (ou {MIN_LENGTH_WITHOUT_SPECIAL} caractères)")
    return (
        f"Il faut au moins {MIN_LENGTH_WITH_SPECIAL} caractères mêlant majuscules, minuscules, chiffres et "
        f"caractères spéciaux, ou au moins {MIN_LENGTH_WITHOUT_SPECIAL} mêlant majuscules, minuscules et "
        f"chiffres (il manque : {', '.join(missing)})."
    )


def rule_personal_info(password: str, info: PersonalInfo) -> str | None:
    """No identifier, nom, prénom or e-mail local part inside (case and accents ignored)."""
    folded = fold(password)
    compact = _SEPARATORS.sub("", folded)
    if any(part in folded or part in compact for part in info.parts()):
        return "Le mot de passe ne doit contenir ni votre identifiant, ni votre nom, prénom ou adresse e-mail."
    return None


def zxcvbn_inputs(info: PersonalInfo) -> list[str]:
    """The user inputs given to zxcvbn: personal values, their pieces and the application's words."""
    values = [fold(v) for v in (info.identifier, info.nom, info.prenom, info.email, info.email_local_part) if v]
    return [*values, *info.parts(), *APPLICATION_WORDS]


def strength_score(password: str, info: PersonalInfo) -> int:
    """zxcvbn score from 0 (guessed at once) to 4 (very hard), on the first ZXCVBN_WINDOW characters."""
    if not password:
        return 0
    from zxcvbn import zxcvbn

    _register_french_words()
    window = password[:ZXCVBN_WINDOW]
    return int(zxcvbn(window, user_inputs=zxcvbn_inputs(info), max_length=ZXCVBN_WINDOW)["score"])


def _register_french_words() -> None:
    global _french_words_registered
    if not _french_words_registered:
        from zxcvbn import matching

        matching.add_frequency_lists({"french_common": list(FRENCH_COMMON_WORDS)})
        _french_words_registered = True


def rule_strength(password: str, info: PersonalInfo, min_score: int) -> str | None:
    score = strength_score(password, info)
    if score < min_score:
        return (
            f"Le mot de passe est trop facile à deviner (robustesse {score} sur 4, {min_score} au minimum) : "
            "évitez les mots courants, les suites et les répétitions."
        )
    return None


def rule_not_current(password: str, current_hash: str | None, current_is_temporary: bool) -> str | None:
    """The new password differs from the one in use (the temporary one at first login)."""
    from cpf_tui.services import passwords

    if current_hash and passwords.verify(current_hash, password):
        if current_is_temporary:
            return "Le nouveau mot de passe doit être différent du mot de passe temporaire."
        return "Le nouveau mot de passe doit être différent du mot de passe actuel."
    return None


def rule_not_recent(password: str, recent_hashes: Sequence[str]) -> str | None:
    """Not one of the previous passwords (Argon2 verify against each stored hash)."""
    from cpf_tui.services import passwords

    if any(passwords.verify(old_hash, password) for old_hash in recent_hashes):
        count = len(recent_hashes)
        return f"Ce mot de passe fait partie de vos {count} derniers mots de passe : choisissez-en un nouveau."
    return None


CONFIRMATION_MISMATCH = "La confirmation ne correspond pas au nouveau mot de passe."


def rule_confirmation(password: str, confirmation: str) -> str | None:
    if password != confirmation:
        return CONFIRMATION_MISMATCH
    return None


# -- all together ----------------------------------------------------------------------------------
def evaluate(
    password: str,
    info: PersonalInfo,
    *,
    min_score: int = 3,
    current_hash: str | None = None,
    current_is_temporary: bool = False,
    recent_hashes: Iterable[str] = (),
) -> list[str]:
    """Every reason why `password` is refused (empty list: accepted)."""
    reasons = [rule_max_length(password), rule_composition(password), rule_personal_info(password, info)]
    if len(password) <= MAX_LENGTH:
        reasons.append(rule_strength(password, info, min_score))
    reasons.append(rule_not_current(password, current_hash, current_is_temporary))
    reasons.append(rule_not_recent(password, list(recent_hashes)))
    return [reason for reason in reasons if reason]


def checklist(
    password: str,
    confirmation: str,
    info: PersonalInfo,
    *,
    min_score: int = 3,
    history: int = 5,
    score: int | None = None,
) -> list[CheckItem]:
    """The live checklist shown while typing (cheap rules only, the Argon2 ones are marked pending).

    Pass `score` when the caller already computed `strength_score` (the estimator is the costly part).
    """
    length = len(password)
    if score is None:
        score = strength_score(password, info) if length <= MAX_LENGTH else 0
    return [
        CheckItem("length", f"Au moins {MIN_LENGTH_WITH_SPECIAL} caractères", length >= MIN_LENGTH_WITH_SPECIAL),
        CheckItem("upper", "Une majuscule", has_upper(password)),
        CheckItem("lower", "Une minuscule", has_lower(password)),
        CheckItem("digit", "Un chiffre", has_digit(password)),
        CheckItem(
            "special",
            f"Caractère spécial ou {MIN_LENGTH_WITHOUT_SPECIAL} caractères",
            has_special(password) or length >= MIN_LENGTH_WITHOUT_SPECIAL,
        ),
        CheckItem("max", f"{MAX_LENGTH} caractères au maximum", length <= MAX_LENGTH),
        CheckItem("personal", "Ni identifiant, nom, prénom, e-mail",
                  bool(password) and rule_personal_info(password, info) is None),
        CheckItem("strength", f"Difficile à deviner ({min_score}/4 minimum)",
                  length <= MAX_LENGTH and score >= min_score),
        CheckItem("confirmation", "Confirmation identique", bool(password) and password == confirmation),
        CheckItem("history", f"Ni l'actuel, ni les {history} derniers", None),
    ]


def strength_label(score: int) -> str:
    """French label of a zxcvbn score."""
    return STRENGTH_LABELS[max(0, min(4, score))]
