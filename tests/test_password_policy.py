"""The password rules, each in isolation, then together (hypothesis)."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cpf_tui.services import password_policy as policy
from cpf_tui.services import passwords

INFO = policy.PersonalInfo(identifier="K7MP4XQ2", nom="Lefèvre-Dupont", prenom="Hélène", email="h.lefevre@example.fr")
STRONG = "Vx9#qLm2-tRz8!kWp"
STRONG_NO_SPECIAL = "Vx9qLm2tRz8kWpNb"


# -- each rule alone ------------------------------------------------------------------------------------
def test_max_length_rule():
    assert policy.rule_max_length("a" * 128) is None
    assert "128" in policy.rule_max_length("a" * 129)


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("Abcdefgh12!x", True),  # 12 with the four classes
        ("Abcdefgh12!", False),  # 11
        ("Abcdefghij12", False),  # 12 without special
        ("Abcdefghijk123", True),  # 14 without special
        ("abcdefghijk123", False),  # no upper
        ("ABCDEFGHIJK123", False),  # no lower
        ("Abcdefghijklmn", False),  # no digit
        ("Éléphant-rose12", True),  # accented letters count as letters
    ],
)
def test_composition_rule(password, accepted):
    assert (policy.rule_composition(password) is None) is accepted


def test_composition_reason_lists_what_is_missing():
    reason = policy.rule_composition("abc")
    assert "une majuscule" in reason and "un chiffre" in reason and "au moins 12 caractères" in reason
    assert "une minuscule" not in reason


@pytest.mark.parametrize(
    "password",
    ["Xk7mp4xq2!AbcdeF", "Zz!9HELENE-abcdefg", "Zz!9lefevre-abcdefg", "Zz!9DUPONT-abcdefg", "Zz!9h.lefevreQQQ",
     "Zz!9Hélène-abcdefg", "Zz!9lefevre dupontQ"],
)
def test_personal_info_rule_rejects_identifier_names_and_mail(password):
    assert policy.rule_personal_info(password, INFO) is not None


def test_personal_info_rule_ignores_parts_shorter_than_three():
    info = policy.PersonalInfo(identifier="", nom="Le Bo", prenom="Wu", email="wu@example.fr")
    assert policy.rule_personal_info("Wu, Zz!9 Le Qqqq Bo", info) is None
    assert policy.rule_personal_info("xxLEBOxx!9Qqqqq", info) is not None  # the whole name, 4 letters


def test_strength_rule_uses_the_user_inputs():
    assert policy.rule_strength("Motdepasse123!", INFO, 3) is not None
    assert policy.rule_strength(STRONG, INFO, 3) is None
    # The same word is weak once it is the user's own name.
    named = policy.PersonalInfo(nom="Quarzazate")
    assert policy.strength_score("Quarzazate2026!", named) < policy.strength_score("Quarzazate2026!", INFO)


def test_strength_rule_threshold_is_configurable():
    assert policy.rule_strength("Motdepasse123!", INFO, 0) is None


def test_not_current_rule():
    temp_hash = passwords.hash_temporary("Abcd-efgh-ijkm-npqr")
    assert "temporaire" in policy.rule_not_current("Abcd-efgh-ijkm-npqr", temp_hash, True)
    assert "actuel" in policy.rule_not_current("Abcd-efgh-ijkm-npqr", temp_hash, False)
    assert policy.rule_not_current(STRONG, temp_hash, True) is None
    assert policy.rule_not_current(STRONG, None, True) is None


def test_not_recent_rule():
    old = [passwords.hash_temporary(f"Ancien-mot-{i}") for i in range(3)]
    assert policy.rule_not_recent("Ancien-mot-1", old) is not None
    assert policy.rule_not_recent(STRONG, old) is None
    assert policy.rule_not_recent(STRONG, []) is None


def test_confirmation_rule():
    assert policy.rule_confirmation(STRONG, STRONG) is None
    assert policy.rule_confirmation(STRONG, STRONG + "x") is not None


def test_evaluate_returns_every_reason_at_once():
    reasons = policy.evaluate("helene", INFO, min_score=3)
    assert len(reasons) == 3  # composition, personal information, strength
    assert policy.evaluate(STRONG, INFO, min_score=3) == []


def test_checklist_ticks_as_the_password_grows():
    empty = {item.key: item.ok for item in policy.checklist("", "", INFO)}
    assert empty["length"] is False and empty["upper"] is False and empty["history"] is None
    full = {item.key: item.ok for item in policy.checklist(STRONG, STRONG, INFO)}
    assert all(ok for key, ok in full.items() if key != "history")
    half = {item.key: item.ok for item in policy.checklist("Vx9", "", INFO)}
    assert half["upper"] and half["lower"] and half["digit"] and not half["length"]


# -- properties --------------------------------------------------------------------------------------------
UPPER = st.sampled_from(string.ascii_uppercase + "ÉÀ")
LOWER = st.sampled_from(string.ascii_lowercase + "éèà")
DIGIT = st.sampled_from(string.digits)
SPECIAL = st.sampled_from("!#$%&*+-/:;=?@_~ ")
ANY_ALLOWED = st.one_of(UPPER, LOWER, DIGIT, SPECIAL)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_evaluate_never_crashes_and_long_passwords_are_refused(password):
    reasons = policy.evaluate(password, INFO, min_score=3)
    assert isinstance(reasons, list)
    assert (policy.rule_max_length(password) in reasons) is (len(password) > 128)


@settings(max_examples=200, deadline=None)
@given(UPPER, LOWER, DIGIT, SPECIAL, st.lists(ANY_ALLOWED, min_size=8, max_size=60), st.randoms())
def test_four_classes_and_twelve_characters_satisfy_composition(u, lower, d, s, rest, rnd):
    chars = [u, lower, d, s, *rest]
    rnd.shuffle(chars)
    assert policy.rule_composition("".join(chars)) is None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.ascii_letters + string.digits + "!#-", max_size=40),
       st.sampled_from(["upper", "lower", "digit"]))
def test_missing_a_required_class_is_always_refused(password, removed):
    strip = {"upper": str.isupper, "lower": str.islower, "digit": str.isdigit}[removed]
    candidate = "".join(ch for ch in password if not strip(ch))
    assert policy.rule_composition(candidate) is not None


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=string.ascii_letters, min_size=3, max_size=12), st.text(max_size=10),
       st.text(max_size=10), st.booleans())
def test_containing_the_name_is_refused_whatever_case_and_accents(name, before, after, upper):
    accented = name.replace("e", "é").replace("a", "à")
    shown = accented.upper() if upper else accented
    info = policy.PersonalInfo(nom=name)
    assert policy.rule_personal_info(before + shown + after, info) is not None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=string.ascii_letters + string.digits + "!#-@ é", max_size=40))
def test_live_checklist_agrees_with_evaluation(password):
    """When every live line is ticked the password passes the cheap rules, and the other way round."""
    assume(len(password) <= 128)
    items = policy.checklist(password, password, INFO, min_score=3)
    all_ticked = all(item.ok for item in items if item.ok is not None)
    assert all_ticked is (password != "" and policy.evaluate(password, INFO, min_score=3) == [])
