import numpy as np

from cellplateau.models.mae import gene_programs
from tests.models._learning import assert_learns_and_round_trips, train_tiny


def test_gene_programs_group_coexpressed_genes():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(500, 1)), rng.normal(size=(500, 1))
    X = np.hstack([a + 0.05 * rng.normal(size=(500, 5)), b + 0.05 * rng.normal(size=(500, 5))])
    prog = gene_programs(X, 2, seed=0)
    assert len(set(prog[:5])) == 1 and len(set(prog[5:])) == 1 and prog[0] != prog[5]


def test_gene_program_masking_learns(tiny_atlas, tiny_store, tmp_path):
    model = train_tiny(tiny_store, "mae", size="xs", masking="gene_program", n_programs=20,
                       budget={"policy": "fixed_steps", "steps": 300})
    assert len(np.unique(model.programs)) == 20
    assert_learns_and_round_trips(model, tiny_atlas, tiny_store, tmp_path, margin=0.03)
