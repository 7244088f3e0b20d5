"""``bench list`` and ``bench profile`` from the command line: output formats, the profile
suite's table files, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from profile_fixtures import cached_profile_registered

from bench.cli import main
from bench.errors import SuiteError
from bench.suite.profile_suite import load_profile_suite

REPO = Path(__file__).resolve().parent.parent


def _bench(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )


def test_vgg16_with_ten_classes_has_the_lecture_parameter_count() -> None:
    done = _bench("profile", "vgg16", "--num-classes", "10", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["params"] == data["trainable_params"] == 134_301_514
    assert data["input_size"] == [3, 224, 224]
    assert data["model"] == "vgg16" and data["num_classes"] == 10 and data["batch_size"] == 1
    assert data["macs"] == 15_466_234_368  # 4,055,040 fewer than with 1000 classes
    # torch's counter skips the adaptive average pool (512x7x7 additions) that fvcore counts.
    assert data["macs_by_operator"]["adaptive_avg_pool2d"] == 512 * 7 * 7
    assert data["flops"] == 2 * (data["macs"] - 512 * 7 * 7)
    assert data["train_step_flops"] > 2.9 * data["flops"]
    assert data["gmacs"] == data["macs"] / 1e9 and data["gflops"] == data["flops"] / 1e9
    assert data["fvcore_unsupported_ops"] == {"aten::max_pool2d": 5}
    assert "multiply-add = 1" in data["conventions"]


def test_unknown_model_in_a_real_process_is_one_line_without_traceback() -> None:
    done = _bench("profile", "resnet51")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "unknown model 'resnet51'" in done.stderr and "resnet50" in done.stderr


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["profile", "lenet5", "--input-size", "3x224"], "--input-size"),
        (["profile", "lenet5", "--input-size", "axbxc"], "--input-size"),
        (["profile", "lenet5", "--input-size", "0x2x2"], "--input-size"),
        (["profile", "lenet5", "--input-size", "1x8x8"], "--input-size 1x8x8 does not fit lenet5"),
        (["profile", "lenet5", "--batch-size", "0"], "--batch-size"),
        (["profile", "lenet5", "--num-classes", "0"], "--num-classes"),
        (["profile", "lenet5", "--out", "x"], "--out"),
        (["profile"], "exactly one of MODEL or --suite"),
        (["profile", "lenet5", "--suite", "imagenet-profile"], "exactly one of MODEL or --suite"),
        (["profile", "--suite", "imagenet-profile", "--layers"], "--layers"),
        (["profile", "--suite", "imagenet-profile", "--input-size", "3x32x32"], "--input-size"),
        (["profile", "--suite", "imagenet-profile", "--batch-size", "2"], "--batch-size"),
        (["profile", "--suite", "nope"], "unknown suite 'nope'"),
        (["profile", "--suite", "smoke"], "smoke.toml: field 'kind' is missing: not a profile"),
        (["profile", "vgg61"], "unknown model 'vgg61'; did you mean"),
        (["profile", "lenet5", "--format", "xml"], "--format"),
        (["profile", "lenet5", "--trace", "0"], "--trace: must be at least 1, got 0"),
        (["profile", "lenet5", "--trace", "-1"], "--trace: must be at least 1, got -1"),
        (["profile", "lenet5", "--trace", "2", "--format", "csv"], "drop --layers and --format"),
        (["profile", "--suite", "imagenet-profile", "--trace"], "--trace does not apply"),
        (["profile", "lenet5", "--trace", "1", "--input-size", "1x8x8"], "does not fit lenet5"),
        (["list", "nothing*"], "no model matches 'nothing*'"),
    ],
)
def test_mistakes_exit_2_with_one_line(argv: list[str], needle: str, capsys) -> None:
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own usage errors
        code = stop.code
    assert code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err


def test_profile_layers_table_and_csv(capsys) -> None:
    assert main(["profile", "lenet5", "--layers"]) == 0
    text = capsys.readouterr().out
    assert "params:          61,706 (61,706 trainable)" in text
    assert "c1       Conv2d     6x28x28         156     117,600" in text
    assert main(["profile", "lenet5", "--layers", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "layer,type,output_shape,params,macs"
    assert lines[1] == "c1,Conv2d,6x28x28,156,117600"
    assert len(lines) == 13


def test_profile_csv_is_one_row_of_the_json_fields(capsys) -> None:
    assert main(["profile", "lenet5-relu", "--input-size", "3x32x32", "--format", "csv"]) == 0
    row = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out)).iloc[0]
    assert row["input_size"] == "3x32x32" and row["params"] == 62_006
    assert row["macs"] == 416_520 + 2 * 6 * 25 * 28 * 28  # two more input channels in conv1
    assert row["fvcore_unsupported_ops"] == "aten::max_pool2d:2"


def test_list_shows_params_and_macs(capsys) -> None:
    assert main(["list", "lenet5*", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["params"], r["macs"]) for r in rows] == [
        ("lenet5", 61_706, 416_520),
        ("lenet5-relu", 61_706, 416_520),
    ]
    assert rows[0]["input_size"] == [1, 32, 32] and rows[0]["family"] == "LeNet"
    assert main(["list", "vgg1?", "--no-macs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("  ")[0] == "Name" and "Params" in lines[0] and "GMACs" not in lines[0]
    assert [line.split()[0] for line in lines[1:]] == ["vgg11", "vgg13", "vgg16", "vgg19"]
    assert "138,357,544" in lines[3]


def test_imagenet_profile_suite_writes_csv_and_markdown(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setattr(
        "bench.measure.static_profile.profile_registered", cached_profile_registered
    )
    assert main(["profile", "--suite", "imagenet-profile", "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "profiling resnet152 (7/7)" in err
    assert "FLOPs/MACs lies within 1.8–2.2 for every model." in out
    table = pd.read_csv(tmp_path / "imagenet-profile.csv")
    assert table["network"].tolist() == list(load_profile_suite("imagenet-profile").models)
    vgg16 = table.set_index("network").loc["vgg16"]
    assert vgg16["params"] == 138_357_544
    assert vgg16["forward_macs_per_image"] == 15_470_289_408
    assert vgg16["forward_flops_per_image"] == 30_940_528_640
    assert vgg16["paper_top5_pct"] == 92.3
    assert vgg16["published_top5_pct"] == 90.382
    assert "test_acc_pct_mean" not in table.columns and "seeds_ok" not in table.columns
    markdown = (tmp_path / "imagenet-profile.md").read_text()
    resnet18 = "| resnet18 | 2015 | Shortcut connections | 89.08 | n/a | 11.69 | 1.819 | 3.628 |"
    assert resnet18 in markdown  # ResNet-18 has no paper figure in the lecture
    assert "1. MACs: fvcore FlopCountAnalysis, one multiply-add counted once" in markdown
    assert "not measured here" in markdown


def test_a_profile_suite_name_never_leads_its_tables_out_of_the_out_folder(
    tmp_path: Path, capsys
) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text(
        'kind = "profile"\nname = "../../escape"\ninput_size = [1, 32, 32]\n'
        'num_classes = 10\nmodels = ["lenet5"]\n'
    )
    out = tmp_path / "a" / "b"
    assert main(["profile", "--suite", str(suite), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["..-..-escape.csv", "..-..-escape.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "suite.toml"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]


PROFILE = 'kind = "profile"\n'


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            PROFILE + 'models = ["lenet5"]\nbatch = 2\n',
            "unknown field 'batch'; did you mean 'batch_size'?",
        ),
        (
            PROFILE + 'models = ["lenet6"]\n',
            "field 'models': unknown model 'lenet6'; did you mean lenet5",
        ),
        (PROFILE + "models = []\n", "field 'models' must name at least one model"),
        (
            PROFILE + 'models = ["lenet5"]\ninput_size = [1, 32]\n',
            "field 'input_size' must be a list of 3",
        ),
        (PROFILE + "num_classes = 10\n", "field 'models' is missing"),
        ('kind = "train"\nmodels = ["lenet5"]\n', "field 'kind' must be one of 'profile'"),
    ],
)
def test_profile_suite_mistakes_name_file_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SuiteError) as err:
        load_profile_suite(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_profile_suite_from_a_path_with_defaults(tmp_path: Path, capsys) -> None:
    path = _write(
        tmp_path, PROFILE + 'models = ["lenet5", "lenet5-relu"]\ninput_size = [1, 32, 32]\n'
    )
    suite = load_profile_suite(path)
    assert (suite.name, suite.num_classes, suite.batch_size) == ("p", 1000, 1)
    assert main(["profile", "--suite", path, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["network"] for r in data["rows"]] == ["lenet5", "lenet5-relu"]
    assert data["rows"][0]["paper_top5_pct"] is None
    assert data["profiles"]["lenet5"]["params"] == 61_706 - 850 + 84 * 1000 + 1000
