import json

import pytest

from maskrcnn_custom.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_train_then_evaluate_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "run"
    common = ["--image-size", "64", "--workers", "0", "--no-progress"]
    small = json.dumps({"mask_hidden_dim": 32, "box_detections_per_img": 10, "rpn_pre_nms_top_n_test": 100,
                        "rpn_post_nms_top_n_test": 50, "box_batch_size_per_image": 64})  # fmt: skip
    rc = main(
        ["train", "--synthetic", "4", "--val-synthetic", "2", "--output", str(out), "--model", "maskrcnn_resnet18_fpn",
         "--weights-backbone", "none", "--input-size", "64", "--epochs", "2", "--iters-per-epoch", "1", "--model-kwargs", small,
         "--lr-step-size", "1", "--no-tensorboard", "--json", *common]
    )  # fmt: skip
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs"] == 2 and summary["last"]["lr"] == pytest.approx(0.0015)
    assert (out / "checkpoint_last.pt").is_file() and (out / "pretrained" / "config.json").is_file()
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and "segm/AP" in json.loads(lines[-1])
    assert {"boundary/AP", "skeleton/clDice"} <= set(
        json.loads(lines[-1])
    )  # thin-structure metrics are logged

    # resuming a finished run trains nothing more and reports the same history
    assert main(["train", "--synthetic", "4", "--val-synthetic", "2", "--output", str(out), "--model",
                 "maskrcnn_resnet18_fpn", "--weights-backbone", "none", "--input-size", "64", "--epochs", "2", "--model-kwargs", small,
                 "--iters-per-epoch", "1", "--lr-step-size", "1", "--no-tensorboard", "--json", "--resume",
                 *common]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["epochs"] == 2

    for weights in (out / "checkpoint_best.pt", out / "pretrained"):
        metrics_file = tmp_path / f"metrics_{weights.name}.json"
        rc = main(["evaluate", "--weights", str(weights), "--synthetic", "2", "--data-seed", "1", "--json",
                   "--output", str(metrics_file), *common])  # fmt: skip
        assert rc == 0
        printed = json.loads(capsys.readouterr().out)
        assert json.loads(metrics_file.read_text()) == printed
        assert set(printed["segm"]) >= {"AP", "AP50", "AP75", "APs", "AR100"}
    # the validation set of training is the evaluation set here: the same numbers
    best_epoch = summary["best_epoch"]
    history = [json.loads(x) for x in lines]
    assert printed["segm"]["AP"] == pytest.approx(history[best_epoch]["segm/AP"])


def test_cli_errors_are_one_line(tmp_path, capsys):
    rc = main(["evaluate", "--weights", str(tmp_path / "missing.pt"), "--synthetic", "2", "--no-progress"])
    assert rc == 2
    assert "missing.pt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--output", str(tmp_path)])  # a data option is required
    assert "--coco" in capsys.readouterr().err


def test_help_texts_are_complete(capsys):
    for command in ("train", "evaluate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "Examples:" in text and "--synthetic" in text and "--coco" in text
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for flag in ("--lr", "--momentum", "--weight-decay", "--lr-step-size", "--lr-gamma", "--epochs",
                 "--iters-per-epoch", "--batch-size", "--warmup-iters", "--max-grad-norm", "--amp", "--resume",
                 "--model", "--weights-backbone"):  # fmt: skip
        assert flag in text, flag
