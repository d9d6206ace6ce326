"""Export: splits by work, perceptual hashes, Hugging Face shards, the card, auxiliary images."""

import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from repo_paths import REPO

from visionscores.export import card, duplicates, hub
from visionscores.export import splits as work_splits
from visionscores.export import stage as export_stage
from visionscores.format.images import encode_jpeg
from visionscores.segment import features
from visionscores.tables import METADATA_COLUMNS, METADATA_SCHEMA, REJECTED_SCHEMA, write_table

CONFIG = yaml.safe_load((REPO / "config/config.yaml").read_text(encoding="utf-8"))
FRACTIONS = CONFIG["export"]["split_fractions"]
FORMAT = CONFIG["format"]

THRESHOLDS = {
    "allowed_n_staves": [2],
    "min_width_ratio": 0.1,
    "min_line_fill": 0.6,
    "max_residual_skew_deg": 1.0,
    "max_bend_sp": 1.0,
    "max_edge_cut": 0.02,
    "min_ink_density": 0.02,
    "max_ink_density": 0.5,
}


def system_image(seed: int) -> np.ndarray:
    """A 128 x 512 drawing like a grand staff: ten lines and random note heads."""
    rng = np.random.default_rng(seed)
    image = np.full((128, 512), 255, np.uint8)
    for top in (20, 76):
        for line in range(5):
            image[top + 7 * line, 10:502] = 0
    for _ in range(40):
        x, y = int(rng.integers(20, 490)), int(rng.integers(15, 115))
        cv2.ellipse(image, (x, y), (5, 3), -20, 0, 360, 0, -1)
    return image


def sample_row(piece: str, index: int, **fields) -> dict:
    row = {name: None for name in METADATA_COLUMNS}
    row.update(
        sample_id=f"{piece}-p001-s{index + 1:02d}",
        title=f"Title of {piece}",
        composer="Composer A",
        key="C major",
        imslp_page=f"https://imslp.org/wiki/{piece}",
        system_index=index,
        scenario="test",
        piece_id=piece,
        imslp_file_index="",
        pdf_sha256="0" * 64,
        page=1,
        system_on_page=index + 1,
        reading_index=index,
        n_staves=2,
        staff_bbox=[10.0, 20.0 + 100 * index, 500.0, 90.0 + 100 * index],
        crop_bbox=[0.0, 10.0 + 100 * index, 510.0, 100.0 + 100 * index],
        dpi=300.0,
        skew_deg=0.0,
        movement_index=min(index, 1),
        movement_start=index < 2,
        key_signature_fifths=-1,
        movement_key_signature_fifths=-1,
        **{name: 0.5 for name in features.FEATURES},
        image_path=f"images/{piece}/{piece}-p001-s{index + 1:02d}.jpg",
    )
    row.update(fields)
    return row


def make_dataset(root: Path) -> tuple[list[dict], Path]:
    """Four pieces of three systems; piece-d's first system re-uses piece-a's first image."""
    dataset_dir = root / "dataset"
    rows = []
    for number, piece in enumerate(["piece-a", "piece-b", "piece-c", "piece-d"]):
        for index in range(3):
            row = sample_row(piece, index)
            seed = 0 if (piece, index) == ("piece-d", 0) else 10 * number + index
            path = dataset_dir / row["image_path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            image = system_image(seed)
            if seed == 0 and piece == "piece-d":
                image = np.roll(image, 2, axis=1)  # the same engraving, scanned a bit shifted
            path.write_bytes(encode_jpeg(image, 90 if piece == "piece-d" else 95))
            rows.append(row)
    return rows, dataset_dir


# --- splits -------------------------------------------------------------------------------


def test_work_key_ignores_url_spelling_and_falls_back_to_title_and_composer():
    a = {"imslp_page": "https://imslp.org/wiki/Sonatina_in_C%20major/"}
    b = {"imslp_page": "http://www.imslp.org/wiki/Sonatina_in_C_major"}
    assert work_splits.work_key(a) == work_splits.work_key(b)
    c = {"imslp_page": "", "title": "Träumerei, Op. 15 No. 7", "composer": "Robert SCHUMANN"}
    d = {"imslp_page": None, "title": "Traumerei  op 15 no 7", "composer": "robert schumann"}
    assert (
        work_splits.work_key(c)
        == work_splits.work_key(d)
        == "work:robert schumann|traumerei op 15 no 7"
    )


def test_splits_keep_works_together_and_are_stable_when_works_are_added():
    rows = [
        {"sample_id": f"w{work}-f{file}-s{system}", "imslp_page": f"https://imslp.org/wiki/W{work}"}
        for work in range(300)
        for file in range(2)
        for system in range(3)
    ]
    splits = work_splits.assign_splits(rows, FRACTIONS, 7)
    by_work: dict[str, set[str]] = {}
    for row in rows:
        by_work.setdefault(row["imslp_page"], set()).add(splits[row["sample_id"]])
    assert all(len(found) == 1 for found in by_work.values())
    shares = {name: list(splits.values()).count(name) / len(rows) for name in ("train", "test")}
    assert 0.72 < shares["train"] < 0.88 and 0.04 < shares["test"] < 0.16
    assert work_splits.assign_splits(rows, FRACTIONS, 7) == splits
    more = rows + [{"sample_id": f"new-{i}", "imslp_page": f"https://x/N{i}"} for i in range(50)]
    extended = work_splits.assign_splits(more, FRACTIONS, 7)
    assert {sample: extended[sample] for sample in splits} == splits
    assert work_splits.assign_splits(rows, FRACTIONS, 8) != splits


def test_split_fractions_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        work_splits.assign_splits([], {"train": 0.8, "test": 0.1}, 0)
    assert set(work_splits.assign_splits([{"sample_id": "s", "imslp_page": "u"}], {"all": 1.0}, 0))


def test_near_duplicate_groups_merge_transitively_under_the_smallest_key():
    groups = {"a1": "k3", "b1": "k1", "c1": "k2", "d1": "k4"}
    merged = work_splits.merge_near_duplicate_groups(
        groups, [{"sample_a": "a1", "sample_b": "c1"}, {"sample_a": "c1", "sample_b": "b1"}]
    )
    assert merged == {"a1": "k1", "b1": "k1", "c1": "k1", "d1": "k4"}


# --- hashes and near-duplicates -----------------------------------------------------------


def test_phash_is_robust_to_small_shifts_and_tells_systems_apart():
    base = system_image(1)
    same = duplicates.phash_of_image(base)
    assert same == duplicates.phash_of_image(base.copy()) and 0 <= same < 2**64
    shifted = np.roll(base, 3, axis=1)
    reencoded = cv2.imdecode(np.frombuffer(encode_jpeg(shifted, 70), np.uint8), 0)
    assert bin(duplicates.phash_of_image(reencoded) ^ same).count("1") <= 4
    others = [
        bin(duplicates.phash_of_image(system_image(seed)) ^ same).count("1") for seed in (2, 3)
    ]
    assert min(others) > 8


def test_near_duplicates_only_across_pieces(tmp_path):
    rows, dataset_dir = make_dataset(tmp_path)
    hashes = duplicates.perceptual_hashes(duplicates.sample_image_paths(rows, dataset_dir))
    assert set(hashes) == {row["sample_id"] for row in rows}
    hashes["piece-a-p001-s02"] = hashes["piece-a-p001-s03"]  # same piece: never reported
    pairs = duplicates.near_duplicates(rows, hashes, max_hamming=6, block_rows=5)
    assert [(pair["sample_a"], pair["sample_b"]) for pair in pairs] == [
        ("piece-a-p001-s01", "piece-d-p001-s01")
    ]
    assert pairs[0]["piece_a"] == "piece-a" and pairs[0]["distance"] <= 6
    report = duplicates.near_duplicate_report(
        pairs, {"piece-a-p001-s01": "train", "piece-d-p001-s01": "test"}
    )
    assert report[0]["same_split"] is False


# --- shards and card ----------------------------------------------------------------------


def test_hf_shards_load_with_datasets_as_image_feature(tmp_path, monkeypatch):
    rows, dataset_dir = make_dataset(tmp_path)
    for row in rows:
        row["split"] = "test" if row["piece_id"] == "piece-c" else "train"
    out_dir = tmp_path / "hf"
    written = hub.write_hf_shards(rows, dataset_dir, out_dir, 4, FRACTIONS)
    assert written == {
        "train": [f"data/train-0000{i}-of-00003.parquet" for i in range(3)],
        "test": ["data/test-00000-of-00001.parquet"],
    }
    first = {path: (out_dir / path).read_bytes() for path in written["train"]}
    hub.write_hf_shards(rows, dataset_dir, out_dir, 4, FRACTIONS)
    assert first == {path: (out_dir / path).read_bytes() for path in written["train"]}
    schema = pq.read_schema(out_dir / written["test"][0])
    assert schema.names == ["image", *METADATA_COLUMNS]
    assert json.loads(schema.metadata[b"huggingface"])["info"]["features"]["image"] == {
        "_type": "Image"
    }

    import datasets  # a test dependency: never skipped

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    loaded = datasets.load_dataset(
        "parquet",
        data_files={"train": str(out_dir / "data/train-*.parquet")},
        cache_dir=str(tmp_path / "hf-cache"),
    )["train"]
    assert loaded.features["image"] == datasets.Image()
    assert loaded.num_rows == 9
    image = loaded[0]["image"]
    assert image.mode == "L" and image.size == (512, 128)
    assert loaded[0]["sample_id"] == "piece-a-p001-s01"
    assert loaded[0]["staff_bbox"] == [10.0, 20.0, 500.0, 90.0]


def test_card_reports_counts_reasons_splits_and_points_the_hub_at_the_shards():
    samples = [
        {**sample_row(piece, index), "split": split}
        for piece, split in [("piece-a", "train"), ("piece-b", "test")]
        for index in range(3)
    ]
    rejected = [{"piece_id": "piece-a", "composer": "Composer A", "reason": "narrow"}] * 2 + [
        {"piece_id": "piece-z", "composer": "Composer Z", "reason": "n_staves"}
    ]
    summary = card.summarize(
        "test",
        samples,
        rejected,
        {"piece-a": 2, "piece-b": 1, "piece-z": 1},
        {
            "train": ["data/train-00000-of-00001.parquet"],
            "test": ["data/test-00000-of-00001.parquet"],
        },
        [],
        6,
        0,
        FRACTIONS,
        (128, 512),
        "fit",
        {"train": ["movements/train-00000-of-00001.parquet"]},
        2,
    )
    text = card.card_text(summary)
    assert text == card.card_text(summary)
    header = yaml.safe_load(text.split("---\n")[1])
    assert header["configs"][0]["data_files"] == [
        {"split": "train", "path": ["data/train-00000-of-00001.parquet"]},
        {"split": "test", "path": ["data/test-00000-of-00001.parquet"]},
    ]
    assert header["configs"][1] == {
        "config_name": "movements",
        "data_files": [{"split": "train", "path": ["movements/train-00000-of-00001.parquet"]}],
    }
    assert "| 3 | 4 | 9 | 6 | 3 |" in text  # files, pages, candidates, kept, rejected
    assert "| `narrow` | 2 | 66.7 % |" in text
    assert "| Composer Z | 1 | 0 |" in text
    assert "| train | 3 | 1 |" in text
    assert "min 0, median 3, mean 2, max 3" in text
    assert "arXiv:2506.23030" in text and "varies by country" in text


# --- the whole export ---------------------------------------------------------------------


def test_export_keeps_near_duplicates_in_one_split_and_is_byte_identical(tmp_path):
    rows, dataset_dir = make_dataset(tmp_path)
    metadata = dataset_dir / "metadata.parquet"
    rejected = dataset_dir / "rejected.parquet"
    write_table(rows, METADATA_SCHEMA, metadata)
    write_table([], REJECTED_SCHEMA, rejected)
    pages_dirs = []
    for piece in sorted({row["piece_id"] for row in rows}):
        pages_dir = tmp_path / "pages" / piece
        pages_dir.mkdir(parents=True)
        listing = {"piece_id": piece, "pages": [{"page": 1}]}
        (pages_dir / "pages.json").write_text(json.dumps(listing))
        pages_dirs.append(pages_dir)
    params = {"split_fractions": {"train": 0.5, "test": 0.5}, "split_seed": 3}
    params |= {"near_duplicate_max_hamming": 6, "rows_per_shard": 5}
    outputs = []
    for name in ("one", "two"):
        counts = export_stage.export_dataset(
            metadata, rejected, pages_dirs, dataset_dir, tmp_path / name, params, FORMAT, []
        )
        outputs.append(
            {
                p.relative_to(tmp_path / name): p.read_bytes()
                for p in (tmp_path / name).rglob("*")
                if p.is_file()
            }
        )
    assert outputs[0] == outputs[1]
    assert counts["near_duplicates"] == 1 and counts["samples"] == 12
    report = pq.read_table(tmp_path / "one/near_duplicates.parquet").to_pylist()
    assert report[0]["same_split"] is True
    splits = pq.read_table(tmp_path / "one/splits.parquet").to_pylist()
    split_of = {row["piece_id"]: row["split"] for row in splits}
    assert split_of["piece-a"] == split_of["piece-d"]
    names = {str(path) for path in outputs[0]}
    assert {"README.md", "near_duplicates.csv", "near_duplicates.parquet", "splits.parquet"} < names
    assert sum(name.startswith("data/") for name in names) == counts["shards"] >= 2


def test_the_movements_view_loads_each_movement_in_order_with_its_gaps(tmp_path, monkeypatch):
    import datasets

    rows, dataset_dir = make_dataset(tmp_path)  # movements: systems 1 | 2, 3 of each piece
    metadata = dataset_dir / "metadata.parquet"
    rejected_path = dataset_dir / "rejected.parquet"
    write_table(rows, METADATA_SCHEMA, metadata)
    # A rejected candidate after piece-b's third system, in its second movement.
    gap = {name: None for name in REJECTED_SCHEMA.names}
    gap |= {"scenario": "test", "piece_id": "piece-b", "title": "Title of piece-b"}
    gap |= {"composer": "Composer A", "page": 2, "system_on_page": 1, "reading_index": 3}
    gap |= {"movement_index": 1, "movement_start": False, "reason": "narrow"}
    write_table([gap], REJECTED_SCHEMA, rejected_path)
    pages_dirs = []
    for piece in sorted({row["piece_id"] for row in rows}):
        pages_dir = tmp_path / "pages" / piece
        pages_dir.mkdir(parents=True)
        cv2.imwrite(str(pages_dir / "heading-m01.jpg"), np.full((20, 80), 200, np.uint8))
        listing = {"piece_id": piece, "pages": [{"page": 1}], "headings": {"1": "heading-m01.jpg"}}
        (pages_dir / "pages.json").write_text(json.dumps(listing))
        pages_dirs.append(pages_dir)
    params = {"split_fractions": {"train": 1.0}, "split_seed": 0}
    params |= {"near_duplicate_max_hamming": 0, "rows_per_shard": 3}
    out = tmp_path / "hub"
    counts = export_stage.export_dataset(
        metadata, rejected_path, pages_dirs, dataset_dir, out, params, FORMAT, []
    )
    assert counts["movements"] == 8  # four pieces of two movements
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    loaded = datasets.load_dataset(str(out), "movements", cache_dir=str(tmp_path / "cache"))
    movements = {row["movement_id"]: row for row in loaded["train"]}
    assert sorted(movements) == [f"piece-{p}-m0{m}" for p in "abcd" for m in (0, 1)]
    second = movements["piece-b-m01"]
    assert [s["sample_id"] for s in second["systems"]] == [
        "piece-b-p001-s02",
        "piece-b-p001-s03",
        None,
    ]
    assert [s["rejected_reason"] for s in second["systems"]] == ["", "", "narrow"]
    assert (second["n_systems"], second["n_kept"], second["key_signature_fifths"]) == (3, 2, -1)
    assert second["heading"].size == (80, 20)
    assert movements["piece-b-m00"]["heading"] is None
    for image, name in zip(second["images"], ["s02", "s03"], strict=True):
        expected = cv2.imread(str(dataset_dir / f"images/piece-b/piece-b-p001-{name}.jpg"), 0)
        assert np.array_equal(np.asarray(image), expected)
