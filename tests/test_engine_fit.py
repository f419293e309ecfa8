import csv
import json

import pytest
import torch
from torch.utils.data import Dataset

from helpers.models import train_model
from helpers.rods import TinyRods
from maskrcnn_custom import TrainingRecipe, fit, from_pretrained, get_recipe
from maskrcnn_custom.engine import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class RandomFlip(Dataset):
    """Horizontal flip drawn from the global torch RNG: resume must restore it to be exact."""

    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        img, t = self.base[i]
        if torch.rand(1).item() < 0.5:
            w = img.shape[-1]
            img = img.flip(-1)
            t = dict(
                t,
                masks=t["masks"].flip(-1),
                boxes=torch.stack(
                    [w - t["boxes"][:, 2], t["boxes"][:, 1], w - t["boxes"][:, 0], t["boxes"][:, 3]], 1
                ),
            )
        return img, t


class Crash(RuntimeError):
    pass


def _run(out, *, seed_model, epochs=3, crash_after=None, resume=None):
    torch.manual_seed(seed_model)
    model = train_model()

    def on_epoch_end(record):
        if crash_after is not None and record["epoch"] == crash_after:
            raise Crash(f"simulated crash after epoch {crash_after}")

    result = fit(
        model,
        RandomFlip(TinyRods(n=5, size=64, seed=1)),
        TinyRods(n=2, size=64, seed=2),
        output_dir=out,
        epochs=epochs,
        iters_per_epoch=3,
        batch_size=2,
        lr=0.005,
        lr_step_size=1,
        warmup_iters=2,
        max_grad_norm=10.0,
        progress=False,
        tensorboard=False,
        seed=11,
        resume=resume,
        on_epoch_end=on_epoch_end,
        config={"dataset": "tiny-rods"},
    )
    return model, result


def _strip_times(records):
    return [{k: v for k, v in r.items() if not k.endswith("time_s")} for r in records]


def test_resume_after_a_crash_is_bit_identical(tmp_path):
    ref_model, ref = _run(tmp_path / "ref", seed_model=0)
    with pytest.raises(Crash):
        _run(tmp_path / "crashed", seed_model=0, crash_after=1)
    ckpt = load_checkpoint(tmp_path / "crashed" / "checkpoint_last.pt")
    assert ckpt["epoch"] == 2 and len(ckpt["history"]) == 2
    assert (
        ckpt["config"] == {"dataset": "tiny-rods"} and ckpt["model_config"]["backbone"]["name"] == "resnet18"
    )
    assert set(ckpt) >= {"model", "optimizer", "lr_scheduler", "scaler", "rng", "recipe"}
    # the resumed process builds a different random model: everything must come from the checkpoint
    model, res = _run(tmp_path / "crashed", seed_model=123, resume=True)
    ref_state, state = ref_model.state_dict(), model.state_dict()
    assert ref_state.keys() == state.keys()
    for k in ref_state:
        assert torch.equal(ref_state[k], state[k]), k
    assert _strip_times(res.history) == _strip_times(ref.history)
    assert [r["epoch"] for r in res.history] == [0, 1, 2]
    lines = [json.loads(x) for x in (tmp_path / "crashed" / "metrics.jsonl").read_text().splitlines()]
    ref_lines = [json.loads(x) for x in (tmp_path / "ref" / "metrics.jsonl").read_text().splitlines()]
    assert _strip_times(lines) == _strip_times(ref_lines)
    # learning rate halves every epoch here (lr_step_size=1): 0.005, 0.0025, 0.00125
    assert [r["lr"] for r in res.history] == pytest.approx([0.005, 0.0025, 0.00125])
    # the final folder is the best epoch's model
    assert (tmp_path / "crashed" / "pretrained" / "model.safetensors").is_file()
    assert res.best_epoch == max(range(3), key=lambda e: (res.history[e]["segm"]["AP"], -e))


def test_outputs_logs_and_checkpoints(tmp_path):
    _, res = _run(tmp_path, seed_model=0, epochs=2)
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    for col in (
        "train/loss",
        "train/loss_mask",
        "lr",
        "segm/AP",
        "bbox/AP50",
        "segm/ARl",
        "segm_elongation/>=8/AP",
    ):
        assert col in rows[0], col
    assert float(rows[1]["train/loss"]) == pytest.approx(res.history[1]["train"]["loss"])
    assert res.last_checkpoint.is_file() and res.best_checkpoint.is_file()
    best = load_checkpoint(res.best_checkpoint)
    assert best["epoch"] == res.best_epoch + 1
    run_config = json.loads((tmp_path / "run_config.json").read_text())
    assert run_config["recipe"]["lr_step_size"] == 1 and run_config["recipe"]["momentum"] == 0.9
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave nothing behind
    assert json.loads((tmp_path / "pretrained" / "config.json").read_text())["num_classes"] == 2
    # the pretrained folder holds the best epoch's weights and loads with from_pretrained
    loaded = from_pretrained(tmp_path / "pretrained").state_dict()
    for k, v in best["model"].items():
        assert torch.equal(loaded[k], v), k


def test_overfitting_two_images_reaches_a_high_segm_ap(tmp_path):
    torch.manual_seed(0)
    data = TinyRods(n=2, size=64, seed=0)
    res = fit(
        train_model(),
        data,
        data,
        output_dir=tmp_path,
        epochs=4,
        iters_per_epoch=30,
        batch_size=2,
        lr=0.01,
        lr_step_size=100,
        warmup_iters=10,
        max_grad_norm=10.0,
        eval_every=4,
        progress=False,
        tensorboard=False,
        save_pretrained=False,
    )
    assert [("segm" in r) for r in res.history] == [False, False, False, True]
    assert res.history[-1]["train"]["loss"] < 0.5 * res.history[0]["train"]["loss"]
    assert res.history[-1]["segm"]["AP"] > 0.5, res.history[-1]["segm"]
    assert res.history[-1]["bbox"]["AP50"] > 0.8


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs"),
        ({"lr": -1.0}, ValueError, "lr"),
        ({"lr_step_size": 0}, ValueError, "lr_step_size"),
        ({"batch_size": 1.5}, ValueError, "batch_size"),
        ({"amp": "int8"}, ValueError, "amp"),
        ({"optimizer": "adam"}, ValueError, r"optimizer must be one of 'sgd', 'adamw'"),
        ({"optimizer": None}, ValueError, r"optimizer must be one of 'sgd', 'adamw', got None"),
        ({"resume": "nowhere/checkpoint_last.pt"}, FileNotFoundError, "resume"),
    ],
)
def test_bad_arguments_fail_before_training(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        fit(train_model(), TinyRods(n=2), output_dir=tmp_path / "run", progress=False, **kwargs)
    assert not (tmp_path / "run").exists()


def test_adamw_trains_records_itself_and_refuses_a_resume_with_sgd(tmp_path):
    torch.manual_seed(0)
    model = train_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    common = dict(
        output_dir=tmp_path / "run",
        epochs=1,
        iters_per_epoch=2,
        lr=1e-3,
        weight_decay=0.05,
        progress=False,
        tensorboard=False,
        save_pretrained=False,
    )
    fit(model, TinyRods(n=4, size=64, seed=1), optimizer="adamw", **common)
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint_last.pt")
    assert ckpt["recipe"]["optimizer"] == "adamw"
    group = ckpt["optimizer"]["param_groups"][0]
    assert group["weight_decay"] == 0.05 and "amsgrad" in group  # an AdamW state, not SGD's
    assert all("exp_avg_sq" in state for state in ckpt["optimizer"]["state"].values())
    changed = [
        k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])
    ]
    assert "roi_heads.box_predictor.cls_score.weight" in changed

    with pytest.raises(ValueError, match=r"optimizer='adamw'.*optimizer='sgd'"):
        fit(train_model(), TinyRods(n=4, size=64, seed=1), resume=True, **{**common, "epochs": 2})
    assert load_checkpoint(tmp_path / "run" / "checkpoint_last.pt")["epoch"] == 1  # nothing overwritten


def _quick(out, **kwargs):
    """One iteration of one epoch on two 64 px images, no evaluation: the recipe plumbing, not the training."""
    torch.manual_seed(0)
    opts = dict(output_dir=out, progress=False, tensorboard=False, save_pretrained=False)
    return fit(train_model(), TinyRods(n=2, size=64, seed=1), **{**opts, **kwargs})


def test_explicit_keywords_override_the_preset_and_the_checkpoint_records_the_effective_recipe(tmp_path):
    res = _quick(tmp_path / "run", recipe="demo", epochs=1, iters_per_epoch=1, optimizer="sgd", lr=0.003)
    # optimizer="sgd" and lr=0.003 equal the seed's defaults, and still override the demo preset's values
    expected = get_recipe("demo").replace(epochs=1, iters_per_epoch=1, optimizer="sgd", lr=0.003)
    assert res.recipe == expected
    ckpt = load_checkpoint(res.last_checkpoint)
    assert ckpt["recipe"] == expected.to_dict() and TrainingRecipe.from_dict(ckpt["recipe"]) == expected
    assert ckpt["run"]["world_size"] == 1 and ckpt["run"]["seed"] == 0 and ckpt["run"]["amp_dtype"] is None
    group = ckpt["optimizer"]["param_groups"][0]
    assert group["momentum"] == 0.9 and group["initial_lr"] == 0.003 and "amsgrad" not in group  # SGD
    assert ckpt["lr_scheduler"]["step_size"] == get_recipe("demo").lr_step_size
    run_config = json.loads((tmp_path / "run" / "run_config.json").read_text())
    assert run_config["recipe"] == expected.to_dict() and run_config["run"] == ckpt["run"]


def test_a_recipe_object_and_one_pass_epochs(tmp_path):
    recipe = TrainingRecipe(epochs=1, iters_per_epoch=None, batch_size=1, warmup_iters=0)
    res = _quick(tmp_path / "run", recipe=recipe)
    assert res.recipe == recipe.replace(iters_per_epoch=2)  # None: one pass over the 2 images
    assert res.history[0]["train"]["loss"] > 0
    with pytest.raises(TypeError, match="recipe must be a TrainingRecipe"):
        _quick(tmp_path / "other", recipe={"epochs": 1})
    with pytest.raises(ValueError, match="recipe must be one of"):
        _quick(tmp_path / "other", recipe="fastest")
    assert not (tmp_path / "other").exists()


def _snapshot(folder):
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()}


def test_resume_refuses_a_changed_learning_rate_before_touching_a_file(tmp_path, caplog):
    out = tmp_path / "run"
    _quick(out, recipe="demo", epochs=1, iters_per_epoch=1)
    before = _snapshot(out)
    for change, match in (
        ({"lr": 1e-3}, r"lr=0\.0005, this call asks for lr=0\.001"),
        ({"lr_step_size": 5}, r"lr_step_size=2, this call asks for lr_step_size=5"),
        ({"recipe": "seed"}, r"optimizer='adamw', this call asks for optimizer='sgd'"),
    ):
        kwargs = {"recipe": "demo", "epochs": 2, "iters_per_epoch": 1, **change}
        with pytest.raises(ValueError, match=match):
            _quick(out, resume=True, **kwargs)
        assert _snapshot(out) == before, change
    # a field the resumed run does apply (more epochs) is allowed, with a warning
    with caplog.at_level("WARNING", logger="maskrcnn_custom.engine.fit"):
        res = _quick(out, resume=True, recipe="demo", epochs=2, iters_per_epoch=1)
    assert [r["epoch"] for r in res.history] == [0, 1] and res.recipe.epochs == 2
    assert "'epochs': (1, 2)" in caplog.text
