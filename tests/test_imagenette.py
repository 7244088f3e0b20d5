"""Imagenette read from its JPEGs in torchvision's layout: decoded once, cached, and every damaged
file refused in one line before anything runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import torch
import torchvision.datasets.imagenette as tv_imagenette
from cli_errors import one_line_error
from imagenette_files import WNIDS, bomb_bytes, jpeg_bytes, write_imagenette

from bench.cli import main
from bench.data import decoded_cache, image_files, imagenette
from bench.data.datasets import load_dataset
from bench.data.imagenette import check_imagenette
from bench.errors import DataError
from bench.measure.doctor import data_section
from bench.results.rundir import RunDir
from bench.suite.settings import IMAGENETTE_SIZES

SMALL = {"size": "160px", "side": 24}


def _load(data: Path, **options: object):
    return load_dataset("imagenette", data, options={**SMALL, **options})


def _forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make torchvision's decoder fail the test; returns the list of byte counts it was given
    (empty while it was never called)."""
    calls: list[int] = []

    def decode(data: torch.Tensor, *_args: object) -> torch.Tensor:
        calls.append(len(data))
        raise AssertionError("decoded")

    monkeypatch.setattr(image_files, "decode_image", decode)
    return calls


def test_the_torchvision_layout_is_read_round_robin_over_the_classes(tmp_path: Path) -> None:
    base = write_imagenette(tmp_path, per_class=(2, 1), size=(40, 52))
    splits = _load(tmp_path)
    assert splits.train.images.shape == (20, 3, 24, 24) and splits.train.images.dtype == torch.uint8
    assert splits.test.images.shape == (10, 3, 24, 24)
    assert splits.train.labels.tolist() == [*range(10), *range(10)]
    assert splits.test.labels.tolist() == list(range(10))
    assert splits.train.classes[:3] == ("tench", "English springer", "cassette player")
    assert (splits.mean, splits.std) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    # class 3's first training image: colour (75, 180, 0) plus noise of at most 8 and JPEG's error
    assert (
        splits.train.images[3].float().mean(dim=(1, 2)) - torch.tensor([75.0, 180, 0])
    ).abs().max() < 6
    assert splits.decode_s is not None and splits.decode_s > 0
    cache = base / "bench-decoded-24px-20-10.bin"
    assert splits.note == (
        f"imagenette 160px: decoded 30 images at 24 px in {splits.decode_s:.2f} s; kept in {cache}"
    )


def test_train_size_decodes_only_the_first_files_of_every_class(
    tmp_path: Path, monkeypatch
) -> None:
    write_imagenette(tmp_path, per_class=(3, 1))
    read: list[Path] = []
    original = imagenette.read_square
    monkeypatch.setattr(imagenette, "read_square", lambda p, s: read.append(p) or original(p, s))
    splits = _load(tmp_path, train_size=12, test_size=10, cache=False)
    assert splits.train.labels.tolist() == [*range(10), 0, 1]
    assert len(read) == 22 and not list((tmp_path / "imagenette2-160").glob("*.bin"))


def test_a_second_load_reads_the_cache_and_decodes_nothing(tmp_path: Path, monkeypatch) -> None:
    write_imagenette(tmp_path)
    first = _load(tmp_path)
    calls = _forbid_decoding(monkeypatch)
    second = _load(tmp_path)
    assert calls == [] and second.decode_s == 0.0
    assert torch.equal(first.train.images, second.train.images)
    assert torch.equal(first.test.labels, second.test.labels)
    assert second.train.classes == first.train.classes
    cache = tmp_path / "imagenette2-160" / "bench-decoded-24px-20-10.bin"
    assert second.note == f"imagenette 160px: read {cache} (decoded before)"


def test_a_changed_file_makes_the_cache_rebuilt_with_a_note(tmp_path: Path) -> None:
    base = write_imagenette(tmp_path)
    _load(tmp_path)
    changed = base / "train" / WNIDS[0] / f"{WNIDS[0]}_00000.JPEG"
    changed.write_bytes(jpeg_bytes(40, 52, (255, 255, 255)))
    os.utime(changed, ns=(1, 1))
    splits = _load(tmp_path)
    cache = base / "bench-decoded-24px-20-10.bin"
    assert splits.note.startswith(
        f"cache {cache} unused (the image files changed since it was written); decoding again; "
        "imagenette 160px: decoded 30 images"
    )
    assert splits.train.images[0].float().mean() > 245  # the new white image, not the cached one
    assert _load(tmp_path).decode_s == 0.0  # and the rebuilt cache is used next time


def _header(path: Path) -> dict:
    data = path.read_bytes()
    size = int.from_bytes(data[len(decoded_cache.MAGIC) :][:8], "big")
    start = len(decoded_cache.MAGIC) + 8
    return json.loads(data[start : start + size])


def _rewrite_header(path: Path, header: dict) -> None:
    data = path.read_bytes()
    start = len(decoded_cache.MAGIC) + 8
    size = int.from_bytes(data[len(decoded_cache.MAGIC) : start], "big")
    text = json.dumps(header).encode()
    path.write_bytes(
        data[: len(decoded_cache.MAGIC)]
        + len(text).to_bytes(8, "big")
        + text
        + data[start + size :]
    )


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda p: p.write_bytes(b"not a cache"), "not a bench cache of decoded images"),
        (lambda p: p.write_bytes(p.read_bytes()[:-5]), "bytes, its header's shapes need"),
        (lambda p: p.write_bytes(p.read_bytes() + b"x"), "bytes, its header's shapes need"),
        (
            lambda p: _rewrite_header(p, {**_header(p), "shapes": [[20, 3, 24, 24], [10, 3, 24]]}),
            "header lacks or misstates its fields",
        ),
        (
            lambda p: _rewrite_header(p, {**_header(p), "classes": ["a"] * 10}),
            "other classes",
        ),
        (
            lambda p: p.write_bytes(p.read_bytes()[:-1] + bytes([200])),
            "a label is not a class index in 0..9",
        ),
        (
            lambda p: p.write_bytes(decoded_cache.MAGIC + (2**40).to_bytes(8, "big") + b"{}"),
            f"header of {2**40} bytes, at most {2**20}",
        ),
    ],
    ids=["magic", "short", "long", "shape", "classes", "label", "huge-header"],
)
def test_a_damaged_cache_is_refused_and_rebuilt_with_one_note(tmp_path: Path, damage, why) -> None:
    write_imagenette(tmp_path)
    first = _load(tmp_path)
    cache = tmp_path / "imagenette2-160" / "bench-decoded-24px-20-10.bin"
    damage(cache)
    again = _load(tmp_path)
    assert again.note.startswith(f"cache {cache} unused (") and why in again.note
    assert "\n" not in again.note and again.decode_s > 0
    assert torch.equal(again.train.images, first.train.images)
    assert _load(tmp_path).decode_s == 0.0


def test_a_cache_that_cannot_be_written_is_a_note_and_the_images_are_there(tmp_path: Path) -> None:
    base = write_imagenette(tmp_path)
    (base / "bench-decoded-24px-20-10.bin").mkdir()  # a folder where the file would go
    splits = _load(tmp_path)
    assert len(splits.train) == 20
    assert "decoded images not cached (" in splits.note and "\n" not in splits.note
    assert not list(base.glob(".*.tmp"))


def _run_argv(data: Path, out: Path) -> list[str]:
    return [
        "run",
        "--suite",
        "imagenette-classic",
        "--models",
        "resnet18",
        "--seeds",
        "0",
        "--epochs",
        "1",
        "--data-dir",
        str(data),
        "--out",
        str(out),
        "--history-db",
        "none",
        "--set",
        "dataset.imagenette_size=160px",
        "--set",
        "dataset.resize=64",
    ]


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(b"#!/bin/sh\necho hi\n"), "{p}: not a JPEG or PNG image"),
        (_truncated, "{p}: cannot be decoded (Image is incomplete or truncated)"),
        (
            lambda p: p.write_bytes(bomb_bytes(9000, 9000)),
            "{p}: refused before decoding: its header declares 9000x9000 pixels "
            "(at most 67,108,864 allowed)",
        ),
        (
            lambda p: p.write_bytes(bomb_bytes(60000, 60000)),
            "{p}: refused before decoding: Image size (3600000000 pixels) exceeds limit",
        ),
        (
            lambda p: (p.parent.parent / "n99999999").mkdir(),
            "{d}/n99999999: not one of the 10 Imagenette classes (WordNet ids "
            "n01440764..n03888257)",
        ),
        (
            lambda p: (p.parent.parent / "notes.txt").write_text("x"),
            "{d}/notes.txt: not one of the 10 Imagenette classes",
        ),
        (
            lambda p: [f.unlink() for f in p.parent.iterdir()] and p.parent.rmdir(),
            "{d}: incomplete, no class folder n03000684",
        ),
    ],
    ids=[
        "not-an-image",
        "truncated",
        "bomb",
        "bomb-past-pil-limit",
        "unknown-class",
        "stray-file",
        "missing-class",
    ],
)
def test_a_damaged_file_stops_the_run_in_one_line_before_anything_runs(
    tmp_path: Path, capsys, damage, message
) -> None:
    base = write_imagenette(tmp_path / "data")
    victim = base / "val" / WNIDS[3] / f"{WNIDS[3]}_00000.JPEG"
    damage(victim)
    err = one_line_error(_run_argv(tmp_path / "data", tmp_path / "out"), capsys)
    expected = message.format(p=victim, d=base / "val")
    assert err.startswith(f"bench run: error: {expected}"), err
    assert not list((tmp_path / "out").glob("*/*/records.jsonl")) or not any(
        RunDir.open(d.parent).records() for d in (tmp_path / "out").glob("*/*/records.jsonl")
    )


@pytest.mark.parametrize(
    ("width", "height", "why"),
    [
        (9000, 9000, "its header declares 9000x9000 pixels"),
        (30000, 20000, r"Image size \(600000000 pixels\) exceeds limit"),
    ],
)
def test_a_bomb_is_refused_from_its_header_without_decoding(
    tmp_path: Path, monkeypatch, width: int, height: int, why: str
) -> None:
    bomb = tmp_path / "bomb.JPEG"
    bomb.write_bytes(bomb_bytes(width, height))
    assert bomb.stat().st_size < 1000  # a tiny file claiming tens or hundreds of megapixels
    calls = _forbid_decoding(monkeypatch)
    with pytest.raises(DataError, match=f"bomb.JPEG: refused before decoding: {why}"):
        image_files.read_square(bomb, 24)
    assert calls == []


def test_png_files_are_read_too(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "x.JPEG"
    Image.new("RGB", (30, 20), (10, 200, 30)).save(path, "PNG")
    image = image_files.read_square(path, 10)
    assert image.shape == (3, 10, 10) and image[:, 5, 5].tolist() == [10, 200, 30]


def test_missing_imagenette_names_the_folder_and_the_download(tmp_path: Path, capsys) -> None:
    err = one_line_error(_run_argv(tmp_path / "data", tmp_path / "out"), capsys)
    folder = (tmp_path / "data" / "imagenette2-160").resolve()
    assert err == (
        f"bench run: error: imagenette 160px not found in {folder}; pass --data-dir DIR "
        "containing imagenette2-160/{train,val}/<class>/*.JPEG, or add --download"
    )


def test_doctor_lists_imagenette_missing_present_or_damaged(tmp_path: Path) -> None:
    assert check_imagenette(tmp_path).status == "missing"
    base = write_imagenette(tmp_path)
    check = check_imagenette(tmp_path)
    assert (check.status, check.detail) == (
        "present",
        f"160px in {base} (20 train, 10 val files) (images are checked as they are decoded)",
    )
    assert data_section(tmp_path)["datasets"]["imagenette"] == {
        "status": "present",
        "detail": check.detail,
    }
    (base / "train" / "n00000000").mkdir()
    assert check_imagenette(tmp_path).status == "corrupt"


def test_suite_dry_run_lists_its_fifteen_jobs(capsys) -> None:
    assert main(["run", "--suite", "imagenette-classic", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "suite imagenette-classic: 15 jobs" in out
    for model in ("alexnet", "vgg16", "googlenet", "resnet18", "resnet50"):
        for seed in (0, 1, 2):
            assert f"{model}__s{seed} " in out


def test_the_suite_runs_one_epoch_end_to_end_on_the_cpu(tmp_path: Path, capsys) -> None:
    """The shipped suite, one short epoch of resnet18 at 32 px on a test-made folder (fp32:
    bf16 autocast is slow on a CPU; one inference batch size), decode time recorded apart from
    training, then a report. At 32 px the 224-px layout ends in 1x1 maps, which batch norm
    takes in train mode only from more than one image: the profile counts two."""
    write_imagenette(tmp_path / "data")
    argv = [*_run_argv(tmp_path / "data", tmp_path / "out"), "--quiet", "--precision", "fp32"]
    argv[argv.index("dataset.resize=64")] = "dataset.resize=32"
    for value in ("batch_sizes=[1]", "min_time_s=0", "min_iterations=1"):
        argv += ["--set", f"inference.{value}"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "imagenette 160px: decoded 30 images at 32 px in " in err
    (run_dir,) = (p.parent for p in (tmp_path / "out").glob("*/*/run.json"))
    job = next(r for r in RunDir.open(run_dir).records() if r["type"] == "job")
    assert (job["status"], job["dataset"], job["input_size"]) == ("ok", "imagenette", [3, 32, 32])
    assert job["extra"]["data_decode_s"] > 0
    assert job["extra"]["classes"][0] == "tench"
    assert sum(map(sum, job["confusion_matrix"])) == 10
    assert job["latency_ms_p50"] > 0 and [row["batch_size"] for row in job["inference"]] == [1]
    assert (run_dir / "report.html").is_file()
    lecture = pd.read_csv(run_dir / "summary_lecture.csv").set_index("network")
    measured = lecture.loc["resnet18", ["test_acc_pct_mean", "test_top5_pct_mean"]].tolist()
    assert measured == pytest.approx([job["test_acc"], job["test_top5"]])
    assert 0 <= job["test_acc"] <= job["test_top5"] <= 100
    assert lecture.loc["resnet18", "published_top5_pct"] == pytest.approx(89.078)
    labels = (run_dir / "summary.md").read_text(encoding="utf-8")
    for label in ("Top-1, imagenette test set (%)", "Top-5, imagenette test set (%)"):
        assert label in labels
    assert "ImageNet top-5, published (%)" in labels


def test_download_fetches_the_asked_size_through_torchvision_then_reads_it_as_any(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched = []

    def archive(url: str, root: str, md5: str) -> None:
        fetched.append((url, md5))
        write_imagenette(Path(root))  # stands in for the official archive

    monkeypatch.setattr(tv_imagenette, "download_and_extract_archive", archive)
    splits = load_dataset("imagenette", tmp_path, download=True, options=SMALL)
    assert fetched == [tv_imagenette.Imagenette._ARCHIVES["160px"]]
    assert fetched[0][0] == "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz"
    assert (len(splits.train), len(splits.test)) == (20, 10)
    load_dataset("imagenette", tmp_path, download=True, options=SMALL)  # there: not fetched again
    assert len(fetched) == 1


def test_a_failed_download_says_where_and_how_to_supply_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Error downloading imagenette2-160.tgz:\nno route to host")

    monkeypatch.setattr(tv_imagenette, "download_and_extract_archive", offline)
    with pytest.raises(DataError) as err:
        load_dataset("imagenette", tmp_path, download=True, options=SMALL)
    assert str(err.value) == (
        f"could not download imagenette 160px into {(tmp_path / 'imagenette2-160').resolve()} "
        "(no route to host); pass --data-dir DIR containing "
        "imagenette2-160/{train,val}/<class>/*.JPEG instead"
    )


def test_the_sizes_a_suite_may_name_are_torchvisions_archives() -> None:
    assert tuple(tv_imagenette.Imagenette._ARCHIVES) == IMAGENETTE_SIZES
