"""Budgets mean what they say: fixed_epochs is epochs, a cap binds only when set, and a binding cap is named."""

import pytest

from cellplateau.models._budget import EARLY_STOPPING_CAP, Budget, cap_binds, planned_steps


def test_fixed_epochs_is_not_capped_silently():
    b = Budget(policy="fixed_epochs", epochs=1)
    assert b.max_steps is None
    assert planned_steps(b, n_train=19_970_150, batch_size=32) == 624_068       # one pass over 20 M cells
    assert not cap_binds(b, n_train=19_970_150, batch_size=32)


def test_an_explicit_cap_binds_and_says_so():
    b = Budget(policy="fixed_epochs", epochs=1, max_steps=2000)
    assert planned_steps(b, n_train=64_000, batch_size=32) == 2000 and not cap_binds(b, n_train=64_000,
                                                                                     batch_size=32)
    assert planned_steps(b, n_train=640_000, batch_size=32) == 2000 and cap_binds(b, n_train=640_000,
                                                                                  batch_size=32)


def test_early_stopping_has_a_real_cap_and_round_trips():
    b = Budget(policy="early_stopping")
    assert b.max_steps == EARLY_STOPPING_CAP
    assert Budget.model_validate(b.model_dump()) == b
    assert not cap_binds(b, n_train=10**9, batch_size=8)


@pytest.mark.parametrize(("policy", "word"), [("fixed_steps", "compute"), ("fixed_epochs", "passes"),
                                              ("early_stopping", "convergence")])
def test_every_policy_names_what_it_holds_constant(policy, word):
    assert Budget(policy=policy).holds_constant.startswith(word)
