"""The Arc Virtual Cell Atlas as a corpus (scBaseCount, Tahoe-100M) and the reference's Tahoe perturbation sets,
on local stand-ins that use the real column names."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from cellplateau.cli import app
from cellplateau.corpus.ingest import IngestError
from cellplateau.corpus.scbasecount import ScBaseCountPreset, ingest_scbasecount
from cellplateau.corpus.store import CorpusStore
from cellplateau.corpus.tahoe import TahoePreset, ingest_tahoe
from cellplateau.evaluation.sources import Tahoe100mStep
from cellplateau.evaluation.tahoe_sets import REFERENCE_CELL_LINES, REFERENCE_HELD_OUT, TahoeError, build_from_step

GENES = ["TP53", "GAPDH", "CD3E", "EPCAM", "KRT18", "VIM"]
CVCL = {"LoVo": "CVCL_0399", "PANC-1": "CVCL_0480", "NCI-H2030": "CVCL_1517", "BT-474": "CVCL_0179",
        "A549": "CVCL_0023"}


def _plate(path, plate, drugs, rng, n=400):
    lines = rng.choice([*REFERENCE_CELL_LINES, "A549"], n)
    drug = rng.choice(drugs, n)
    obs = pd.DataFrame({
        "plate": plate, "sample": [f"smp_{d}_{x}" for d, x in zip(drug, lines)],
        "gene_count": rng.integers(200, 2000, n), "tscp_count": rng.integers(500, 5000, n),
        "mread_count": rng.integers(500, 9000, n), "drugname_drugconc": [f"[('{d}', 0.5, 'uM')]" for d in drug],
        "drug": drug, "cell_line": [CVCL[x] for x in lines], "sublibrary": "lib_1", "BARCODE": "AAAC",
        "pcnt_mito": rng.random(n), "S_score": rng.random(n), "G2M_score": rng.random(n),
        "phase": rng.choice(["G1", "S", "G2M"], n), "pass_filter": rng.choice(["full", "minimal"], n, p=[0.8, 0.2]),
        "cell_name": lines}, index=pd.Index([f"{plate}_{i:05d}-lib_1" for i in range(n)], name="BARCODE_SUB_LIB_ID"))
    for c in ("plate", "sample", "drugname_drugconc", "drug", "cell_line", "sublibrary", "BARCODE", "phase",
              "pass_filter", "cell_name"):
        obs[c] = obs[c].astype("category")
    counts = sp.csr_matrix(rng.poisson(2, (n, len(GENES))).astype(np.float32))
    ad.AnnData(X=counts, obs=obs, var=pd.DataFrame(index=GENES)).write_h5ad(path)
    return obs, counts


@pytest.fixture
def tahoe(tmp_path):
    rng = np.random.default_rng(0)
    o1, x1 = _plate(tmp_path / "plate1.h5ad", "plate1", ["Dinaciclib", "TAK-901", "DMSO_TF", "Bortezomib"], rng)
    o2, x2 = _plate(tmp_path / "plate2.h5ad", "plate2", ["Homoharringtonine", "PH-797804", "DMSO_TF"], rng)
    meta = pd.concat([o1.reset_index(), o2.reset_index()], ignore_index=True)
    (tmp_path / "metadata").mkdir()
    meta.to_parquet(tmp_path / "metadata" / "obs_metadata.parquet", index=False)
    return tmp_path, {"plate1": (o1, x1), "plate2": (o2, x2)}


def test_tahoe_cut_streams_one_drug_and_its_controls(tahoe, monkeypatch):
    root, plates = tahoe
    step = Tahoe100mStep(drug="Dinaciclib", cell_lines=list(REFERENCE_CELL_LINES), plates=str(root / "{plate}.h5ad"))

    def no_read(*a, **k):
        raise AssertionError("a plate was loaded with read_h5ad")
    monkeypatch.setattr(ad, "read_h5ad", no_read)                   # streaming: plates are never loaded
    build_from_step(step, [root / "metadata" / "obs_metadata.parquet"], root / "dinaciclib.h5ad", name="dina")
    monkeypatch.undo()
    out = ad.read_h5ad(root / "dinaciclib.h5ad")
    obs, counts = plates["plate1"]                                    # Dinaciclib is on plate 1 only
    want = (obs["drug"].isin(["Dinaciclib", "DMSO_TF"]) & obs["cell_name"].isin(REFERENCE_CELL_LINES)
            & (obs["pass_filter"] == "full")).to_numpy()
    assert out.n_obs == want.sum() and set(out.obs["drug"]) == {"Dinaciclib", "DMSO_TF"}
    assert set(out.obs["cell_name"]) == set(REFERENCE_CELL_LINES) and set(out.obs["pass_filter"]) == {"full"}
    np.testing.assert_array_equal(out.X.toarray(), counts[np.flatnonzero(want)].toarray())
    assert list(out.obs_names) == list(obs.index[want]) and list(out.var_names) == GENES
    assert list(out.obs.columns) == list(obs.columns)                # every Tahoe obs column kept

    from cellplateau.evaluation.datasets import DatasetSpec, load_dataset
    from cellplateau.evaluation.perturbation import PerturbationConfig, held_out_splits

    vocab = pd.DataFrame({"gene_symbol": GENES, "gene_id": ""})
    ds = load_dataset(DatasetSpec(name="dina", path=root / "dinaciclib.h5ad", label_key=None, perturbation_key="drug",
                                  control_value="DMSO_TF", context_key="cell_name"), vocab)
    splits = held_out_splits(ds.perturbations, ds.contexts, "DMSO_TF",
                             PerturbationConfig(held_out=REFERENCE_HELD_OUT, min_cells=3))
    assert [s.context for s in splits] == ["NCI-H2030"] and list(splits[0].perturbed) == ["Dinaciclib"]
    assert not np.any(ds.contexts[splits[0].train] == "NCI-H2030")
    with pytest.raises(ValueError, match="none of the held_out perturbations"):
        held_out_splits(ds.perturbations, ds.contexts, "DMSO_TF", PerturbationConfig(held_out={"X": "LoVo"}))


def test_tahoe_cut_refuses_a_plate_that_disagrees_with_the_metadata(tahoe):
    root, _ = tahoe
    meta = pd.read_parquet(root / "metadata" / "obs_metadata.parquet")
    meta = meta.drop(index=meta.index[(meta["drug"] == "TAK-901") & (meta["pass_filter"] == "full")
                                      & meta["cell_name"].isin(REFERENCE_CELL_LINES)][:1])
    meta.to_parquet(root / "metadata" / "obs_metadata.parquet", index=False)
    step = Tahoe100mStep(drug="TAK-901", cell_lines=list(REFERENCE_CELL_LINES), plates=str(root / "{plate}.h5ad"))
    with pytest.raises(TahoeError, match=r"plate1\.h5ad: holds \d+ cells of 'TAK-901' but obs_metadata"):
        build_from_step(step, [root / "metadata" / "obs_metadata.parquet"], root / "tak.h5ad", name="tak")
    with pytest.raises(TahoeError, match="no cell of drug 'Nope'"):
        build_from_step(step.model_copy(update={"drug": "Nope"}), [root / "metadata" / "obs_metadata.parquet"],
                        root / "n.h5ad", name="n")


def test_ingest_preset_tahoe100m_streams_plates(tahoe):
    root, plates = tahoe
    report = ingest_tahoe(root / "store", [root / "plate1.h5ad", root / "plate2.h5ad"], chunk_size=64)
    store = CorpusStore(root / "store")
    full = [(o["pass_filter"] == "full").to_numpy() for o, _ in plates.values()]
    assert report.n_cells == store.n_cells == sum(int(f.sum()) for f in full)
    obs1 = plates["plate1"][0][full[0]]
    np.testing.assert_array_equal(store.obs["cell_type"].astype(str).to_numpy()[: len(obs1)], obs1["cell_name"])
    assert set(store.obs["dataset"].astype(str)) == {"plate1", "plate2"}
    assert set(store.obs["donor"].astype(str)) <= set(CVCL.values()) and "drug" in store.obs.columns
    np.testing.assert_array_equal(store.read_rows(np.arange(len(obs1))).toarray(),
                                  plates["plate1"][1][np.flatnonzero(full[0])].toarray())
    res = CliRunner().invoke(app, ["ingest", str(root / "cli"), str(root / "plate1.h5ad"), "--preset", "tahoe100m",
                                   "--where", "pass_filter=full,minimal"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert CorpusStore(root / "cli").n_cells == 400
    bad = CliRunner().invoke(app, ["ingest", str(root / "x"), str(root / "plate1.h5ad"), "--preset", "tahoe100m",
                                   "--where", "colour=red"], terminal_width=200)
    assert bad.exit_code == 2 and "--where colour: unknown option of --preset tahoe100m" in bad.output


ENSEMBL = {"ENSG00000141510": "TP53", "ENSG00000111640": "GAPDH", "ENSG00000198851": "CD3E",
           "ENSG00000119888": "EPCAM"}


def _scbasecount(root):
    """scBaseCount's layout: metadata/<feature_type>/<Organism>/sample_metadata.parquet + h5ad/.../<SRX>.h5ad."""
    meta_dir = root / "2026-01-12" / "metadata" / "GeneFull_Ex50pAS" / "Homo_sapiens"
    h5_dir = root / "2026-01-12" / "h5ad" / "GeneFull_Ex50pAS" / "Homo_sapiens"
    meta_dir.mkdir(parents=True)
    h5_dir.mkdir(parents=True)
    rng = np.random.default_rng(1)
    samples = []
    layers = {}
    for k, (srx, tech, n) in enumerate([("SRX100", "3_prime_gex", 6), ("SRX200", "3_prime_gex", 5),
                                        ("SRX300", "5_prime_gex", 4)]):
        barcodes = [f"AAACCTG{i}" for i in range(n)]                     # the same barcodes in every sample
        obs = pd.DataFrame({"SRX_accession": srx, "gene_count_Unique": rng.integers(1, 9, n),
                            "umi_count_Unique": rng.integers(1, 9, n),
                            "gene_count_UniqueAndMult-EM": rng.integers(1, 9, n),
                            "umi_count_UniqueAndMult-EM": rng.integers(1, 9, n),
                            "gene_count_UniqueAndMult-Uniform": rng.integers(1, 9, n),
                            "umi_count_UniqueAndMult-Uniform": rng.integers(1, 9, n),
                            "cell_type": (["T cell", "unsure", "", "B cell", "not specified", "T cell"])[:n],
                            "cell_ontology_term_id": "CL:0000084"}, index=pd.Index(barcodes, name="cell_barcode"))
        unique = rng.poisson(1, (n, len(ENSEMBL))).astype(np.float32)
        em = unique + rng.poisson(1, (n, len(ENSEMBL))).astype(np.float32)
        layers[srx] = em
        a = ad.AnnData(X=sp.csr_matrix(unique), obs=obs,
                       var=pd.DataFrame({"gene_symbols": list(ENSEMBL.values())}, index=list(ENSEMBL)))
        a.layers["UniqueAndMult-EM"] = sp.csr_matrix(em)
        a.layers["UniqueAndMult-Uniform"] = sp.csr_matrix(unique)
        a.write_h5ad(h5_dir / f"{srx}.h5ad")
        samples.append({"entrez_id": 1000 + k, "srx_accession": srx,
                        "file_path": f"gs://arc-scbasecount/2026-01-12/h5ad/GeneFull_Ex50pAS/Homo_sapiens/{srx}.h5ad",
                        "obs_count": n, "lib_prep": "10X", "tech_10x": tech, "cell_prep": "single_cell",
                        "organism": "Homo sapiens", "tissue": ["blood", "unsure", "lung"][k],
                        "tissue_ontology_term_id": "UBERON:0000178", "disease": "", "disease_ontology_term_id": "",
                        "perturbation": "not specified", "cell_line": "", "antibody_derived_tag": "",
                        "czi_collection_id": "", "czi_collection_name": ""})
    pd.DataFrame(samples).to_parquet(meta_dir / "sample_metadata.parquet", index=False)
    return meta_dir / "sample_metadata.parquet", layers


def test_ingest_preset_scbasecount(tmp_path):
    meta, layers = _scbasecount(tmp_path)
    vocab = pd.DataFrame({"gene_symbol": ["GAPDH", "TP53", "CD3E", "EPCAM", "VIM"], "gene_id": ""})
    preset = ScBaseCountPreset(tech_10x=["3_prime_gex"], min_obs_count=5)
    report = ingest_scbasecount(tmp_path / "store", meta, preset=preset, vocabulary=vocab, chunk_size=4)
    store = CorpusStore(tmp_path / "store")
    assert report.n_cells == store.n_cells == 11                          # SRX300 (5' chemistry) left out
    ids = store.obs["cell_id"].astype(str)
    assert ids.is_unique and ids.iloc[0] == "SRX100:AAACCTG0" and ids.iloc[6] == "SRX200:AAACCTG0"
    assert list(store.obs["cell_type"].astype(str)[:6]) == ["T cell", "unknown", "unknown", "B cell", "unknown",
                                                            "T cell"]
    assert list(store.obs["tissue"].astype(str).unique()) == ["blood", "unknown"]   # sample metadata joined
    assert set(store.obs["assay"].astype(str)) == {"3_prime_gex"} and store.obs["perturbation"].astype(str).eq(
        "unknown").all()
    # Ensembl var_names onto a symbol vocabulary, counts from the EM layer (not X = Unique)
    expect = np.zeros((6, 5))
    expect[:, [1, 0, 2, 3]] = layers["SRX100"]
    np.testing.assert_array_equal(store.read_rows(np.arange(6)).toarray(), expect)
    uni = CliRunner().invoke(app, ["ingest", str(tmp_path / "u"), str(meta), "--preset", "scbasecount",
                                   "--where", "tech_10x=5_prime_gex", "--layer", "UniqueAndMult-Uniform"],
                             terminal_width=200)
    assert uni.exit_code == 0, uni.output
    u = CorpusStore(tmp_path / "u")
    assert u.n_cells == 4 and u.var["gene_id"].iloc[0] == "ENSG00000141510" and u.var["gene_symbol"].iloc[0] == "TP53"
    with pytest.raises(IngestError, match="no sample passes the filters"):
        ingest_scbasecount(tmp_path / "none", meta, preset=ScBaseCountPreset(min_obs_count=100))
    with pytest.raises(IngestError, match="no layer 'counts'"):
        ingest_scbasecount(tmp_path / "l", meta, preset=ScBaseCountPreset(layer="counts"))
    assert not (tmp_path / "l").exists()                                  # nothing half-written
    assert TahoePreset().pass_filter == ["full"]
