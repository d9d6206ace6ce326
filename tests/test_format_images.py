"""The 128 x 512 sample image: exact pixel checks for both modes."""

import json

import cv2
import numpy as np
import pytest

from visionscores.format import images


def test_fit_keeps_aspect_and_pads_with_white():
    crop = np.zeros((100, 200), np.uint8)  # black, 1:2
    out = images.to_sample(crop, 128, 512, "fit")
    assert out.shape == (128, 512) and out.dtype == np.uint8
    # Scaled to 128 x 256, centred: columns 128..383 black, the rest white.
    assert (out[:, 128:384] == 0).all()
    assert (out[:, :128] == 255).all() and (out[:, 384:] == 255).all()


def test_fit_wide_crop_pads_above_and_below():
    crop = np.zeros((50, 1000), np.uint8)  # 1:20, wider than 1:4
    out = images.to_sample(crop, 128, 512, "fit")
    content_rows = np.nonzero((out < 128).any(axis=1))[0]
    assert content_rows.size == round(50 * 512 / 1000)
    assert (out[0] == 255).all() and (out[-1] == 255).all()


def test_stretch_fills_the_canvas():
    crop = np.zeros((100, 200), np.uint8)
    assert (images.to_sample(crop, 128, 512, "stretch") == 0).all()


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown format mode"):
        images.to_sample(np.zeros((5, 5), np.uint8), 128, 512, "crop")


def test_jpeg_is_8_bit_gray_and_deterministic():
    image = images.to_sample(np.tile(np.arange(256, dtype=np.uint8), (64, 4)), 128, 512)
    first = images.encode_jpeg(image, 95)
    assert first == images.encode_jpeg(image, 95)
    decoded = cv2.imdecode(np.frombuffer(first, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.shape == (128, 512) and decoded.dtype == np.uint8


def test_system_crops_are_cut_from_their_pages(tmp_path):
    pages = []
    for page in (1, 2):
        gray = np.full((100, 200), 255, np.uint8)
        gray[10:20, 30:60] = page  # a mark whose value names the page
        cv2.imwrite(str(tmp_path / f"p{page}.png"), gray)
        pages.append({"page": page, "file": f"p{page}.png"})
    (tmp_path / "pages.json").write_text(json.dumps({"piece_id": "piece-a", "pages": pages}))
    rows = [
        {"page": 1, "deskewed_crop_bbox": [30.0, 10.0, 60.0, 20.0]},
        {"page": 2, "deskewed_crop_bbox": [30.0, 10.0, 60.0, 20.0]},
        {"page": 2, "deskewed_crop_bbox": [0.0, 0.0, 10.0, 5.0]},
    ]
    crops = list(images.iter_system_crops(rows, tmp_path))
    assert [crop.shape for _, crop in crops] == [(10, 30), (10, 30), (5, 10)]
    assert (crops[0][1] == 1).all() and (crops[1][1] == 2).all() and (crops[2][1] == 255).all()


def test_full_pages_are_the_cleaned_pages_named_after_their_samples(tmp_path):
    pages_dir = tmp_path / "pages" / "piece-a"
    pages_dir.mkdir(parents=True)
    listing = []
    for page in (2, 1):
        data = images.encode_jpeg(np.full((300, 200), 40 * page, np.uint8), 95)
        (pages_dir / f"page-{page:04d}.jpg").write_bytes(data)
        listing.append({"page": page, "file": f"page-{page:04d}.jpg"})
    (pages_dir / "pages.json").write_text(json.dumps({"piece_id": "piece-a", "pages": listing}))
    out = tmp_path / "dataset-pages"
    out.mkdir()
    names = images.place_full_pages(pages_dir, out)
    assert names == ["piece-a-p001.jpg", "piece-a-p002.jpg"]
    assert names[0] == images.page_image_name("piece-a", 1)
    for page, name in ((1, names[0]), (2, names[1])):
        # The same bytes: no second encoding of the page.
        assert (out / name).read_bytes() == (pages_dir / f"page-{page:04d}.jpg").read_bytes()
    assert images.crop_image_name("piece-a-p001-s01") == "piece-a-p001-s01.jpg"
