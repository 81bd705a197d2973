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


def test_gene_programs_take_a_studys_64_bit_seed():
    """A study's derived seeds are 64-bit (a study's seed 3 gave 9107388781544248020); k-means takes 32."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 12))
    big = 9107388781544248020
    np.testing.assert_array_equal(gene_programs(X, 3, seed=big), gene_programs(X, 3, seed=big % 2**32))
