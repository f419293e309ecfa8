"""TrainingRecipe: presets, validation, strict (de)serialisation, hashing, and its use by the CLI and the demo."""

import ast
import json
from pathlib import Path

import pytest

import maskrcnn_custom
from maskrcnn_custom import TrainingRecipe, get_preset, get_recipe, list_recipes
from maskrcnn_custom.cli import main
from maskrcnn_custom.demo import DemoSettings, demo_settings
from maskrcnn_custom.engine import checkpoint_recipe
from maskrcnn_custom.recipe import SEED_LR_STEP_SIZE

SRC = Path(maskrcnn_custom.__file__).parent


def test_seed_preset_is_the_seed_documents_recipe():
    seed = get_recipe("seed")
    assert (seed.optimizer, seed.lr, seed.momentum, seed.weight_decay) == ("sgd", 0.003, 0.9, 1e-4)
    assert (seed.epochs, seed.iters_per_epoch, seed.batch_size, seed.lr_gamma) == (30, 300, 2, 0.5)
    assert seed.lr_step_size == SEED_LR_STEP_SIZE == 6  # the seed's text (its code said 10)
    assert seed == TrainingRecipe()  # the class defaults are the seed preset


def test_demo_preset_is_what_the_demo_trains_with():
    demo = get_recipe("demo")
    assert (demo.optimizer, demo.lr, demo.max_grad_norm, demo.warmup_iters) == ("adamw", 5e-4, 10.0, 30)
    assert DemoSettings().recipe == get_preset("fast_cpu").recipe
    fast = demo_settings(fast=True)
    assert fast.recipe == get_preset("fast_cpu").recipe.replace(
        epochs=1, iters_per_epoch=3, warmup_iters=2, batch_size=2
    )
    assert demo_settings(epochs=5, optimizer="sgd").recipe.optimizer == "sgd"


def test_presets_are_listed_and_unknown_names_are_refused():
    assert list_recipes()[:2] == ["seed", "demo"]
    for name in list_recipes():
        assert isinstance(get_recipe(name), TrainingRecipe)
    with pytest.raises(ValueError, match=r"recipe must be one of \['seed', 'demo'.*got 'fast'"):
        get_recipe("fast")


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"epochs": 0}, ValueError, r"^epochs must be an int >= 1, got 0$"),
        ({"epochs": 2.0}, ValueError, r"epochs must be an int"),
        ({"epochs": True}, ValueError, r"epochs must be an int"),
        (
            {"iters_per_epoch": 0},
            ValueError,
            r"iters_per_epoch must be None or an int >= 1, got 0; None: one pass",
        ),
        ({"batch_size": "2"}, ValueError, r"batch_size must be an int"),
        ({"lr": 0.0}, ValueError, r"^lr must be > 0, got 0.0$"),
        ({"lr": float("nan")}, TypeError, r"lr must be a finite number > 0, got nan"),
        ({"lr": "0.1"}, TypeError, r"lr must be a finite number"),
        ({"lr": True}, TypeError, r"lr must be a finite number"),
        ({"optimizer": "adam"}, ValueError, r"optimizer must be one of 'sgd', 'adamw', got 'adam'"),
        ({"momentum": -0.1}, ValueError, r"momentum must be >= 0"),
        ({"weight_decay": -1e-4}, ValueError, r"weight_decay must be >= 0"),
        ({"lr_step_size": 0}, ValueError, r"lr_step_size must be an int >= 1, got 0; epochs between"),
        ({"lr_gamma": 0}, ValueError, r"lr_gamma must be > 0"),
        ({"warmup_iters": -1}, ValueError, r"warmup_iters must be None or an int >= 0, got -1; 0 disables"),
        ({"warmup_factor": 1.5}, ValueError, r"warmup_factor must be in \(0, 1\]"),
        ({"warmup_factor": 0.0}, ValueError, r"warmup_factor must be in \(0, 1\]"),
        (
            {"max_grad_norm": 0.0},
            ValueError,
            r"max_grad_norm must be > 0 or None, got 0.0; None: no clipping",
        ),
        ({"amp": "int8"}, ValueError, r"amp must be False, True"),
        ({"amp": 1}, ValueError, r"amp must be False, True"),
    ],
)
def test_invalid_fields_name_the_field(overrides, error, match):
    with pytest.raises(error, match=match):
        TrainingRecipe(**overrides)
    with pytest.raises(error, match=match):
        get_recipe("seed").replace(**overrides)


def test_boundary_values_are_accepted():
    r = TrainingRecipe(warmup_factor=1, warmup_iters=0, momentum=0, weight_decay=0, max_grad_norm=None)
    assert (r.warmup_factor, r.warmup_iters, r.momentum, r.weight_decay) == (1.0, 0, 0.0, 0.0)


def test_values_are_normalised():
    r = TrainingRecipe(lr=1, momentum=0, amp="bf16")
    assert type(r.lr) is float and type(r.momentum) is float and r.amp == "bfloat16"
    assert TrainingRecipe(amp="fp16").amp == "float16" and TrainingRecipe(amp=None).amp is False
    assert (
        TrainingRecipe(amp="AUTO").amp == "auto"
        and TrainingRecipe.from_dict(TrainingRecipe(amp="auto").to_dict()).amp == "auto"
    )
    assert TrainingRecipe(lr=1) == TrainingRecipe(lr=1.0)


@pytest.mark.parametrize("name", list_recipes())
def test_to_dict_from_dict_round_trip_through_json(name):
    recipe = get_recipe(name).replace(amp=True, max_grad_norm=5)
    data = json.loads(json.dumps(recipe.to_dict()))
    assert set(data) == {
        "epochs", "iters_per_epoch", "batch_size", "lr", "optimizer", "momentum", "weight_decay",
        "lr_step_size", "lr_gamma", "lr_schedule", "warmup_iters", "warmup_factor", "max_grad_norm", "amp",
    }  # fmt: skip
    back = TrainingRecipe.from_dict(data)
    assert back == recipe and hash(back) == hash(recipe) and back.to_dict() == recipe.to_dict()


def test_from_dict_is_strict():
    with pytest.raises(ValueError, match=r"unknown training recipe field\(s\) \['lr_policy'\]"):
        TrainingRecipe.from_dict({"epochs": 2, "lr_policy": "cosine"})
    with pytest.raises(ValueError, match=r"epochs must be an int"):
        TrainingRecipe.from_dict({"epochs": "2"})
    with pytest.raises(ValueError, match=r"optimizer must be one of"):
        TrainingRecipe.from_dict({"optimizer": ["sgd"]})
    with pytest.raises(TypeError, match="mapping"):
        TrainingRecipe.from_dict([("epochs", 2)])
    assert TrainingRecipe.from_dict({"epochs": 2}) == TrainingRecipe(epochs=2)  # missing: the defaults


def test_recipes_are_frozen_and_hashable():
    seed = get_recipe("seed")
    with pytest.raises(AttributeError):
        seed.lr = 0.1  # type: ignore[misc]
    table = {seed: "seed", get_recipe("demo"): "demo"}
    assert table[TrainingRecipe()] == "seed" and len({seed, seed.replace(), TrainingRecipe()}) == 1
    assert seed.replace(epochs=31) != seed and get_recipe("seed").epochs == 30  # replace copies
    with pytest.raises(ValueError, match=r"unknown training recipe field\(s\) \['epoch'\]"):
        seed.replace(epoch=3)


def test_checkpoint_recipe_reads_both_layouts():
    recipe = get_recipe("demo").replace(epochs=2)
    new = {"recipe": recipe.to_dict(), "run": {"world_size": 1, "seed": 3, "amp_dtype": None}}
    assert checkpoint_recipe(new) == (recipe, {"world_size": 1, "seed": 3, "amp_dtype": None})
    # earlier checkpoints kept the run settings and the resolved AMP dtype in "recipe"
    legacy = {"recipe": {**get_recipe("seed").to_dict(), "amp": None, "world_size": 2, "shuffle": True}}
    assert checkpoint_recipe(legacy) == (get_recipe("seed"), {"world_size": 2, "shuffle": True})
    with pytest.raises(ValueError, match="unknown training recipe field"):
        checkpoint_recipe({"recipe": {"epochs": 2, "mystery": 1}})


def test_recipe_module_imports_only_layer_0():
    tree = ast.parse((SRC / "recipe.py").read_text())
    relative = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and (n.level or 0) > 0]
    absolute = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names] + [
        n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level
    ]
    modules = [n.module or "" for n in relative]
    assert all(m == "_version" or m == "_utils" or m.startswith("_utils.") for m in modules), modules
    assert not [m for m in absolute if m and m.startswith("maskrcnn_custom")]


def test_train_cli_passes_only_the_given_flags_over_the_preset(monkeypatch, tmp_path):
    seen = {}

    def fake_fit(model, train, val, **kwargs):
        seen.update(kwargs)
        raise ValueError("stop here")

    monkeypatch.setattr(maskrcnn_custom, "fit", fake_fit)
    monkeypatch.setattr(maskrcnn_custom, "get_model", lambda name, **kwargs: object())
    base = ["train", "--synthetic", "2", "--image-size", "64", "--output", str(tmp_path)]
    assert main([*base, "--recipe", "demo", "--optimizer", "sgd", "--max-grad-norm", "none"]) == 2
    recipe_keys = set(TrainingRecipe.__dataclass_fields__)
    assert seen["recipe"] == "demo"
    assert {k: v for k, v in seen.items() if k in recipe_keys} == {"optimizer": "sgd", "max_grad_norm": None}
    seen.clear()
    assert main([*base, "--epochs", "30", "--amp", "bf16", "--warmup-iters", "auto"]) == 2
    assert seen["recipe"] == "seed"
    assert {k: v for k, v in seen.items() if k in recipe_keys} == {
        "epochs": 30,  # equal to the preset's value and still passed on
        "amp": "bfloat16",
        "warmup_iters": None,
    }
    assert "resume" in seen and seen["resume"] is None and seen["device"] is None


def test_train_help_shows_each_presets_values_and_no_empty_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for field, flag in (("epochs", "--epochs EPOCHS"), ("optimizer", "--optimizer {sgd,adamw}")):
        values = ", ".join(f"{n}: {getattr(get_recipe(n), field)}" for n in list_recipes())
        assert flag in text and f"[{values}]" in text
    assert "--recipe {" + ",".join(list_recipes()) + "}" in text
    recipe_part = text[text.index("training recipe:") :]
    assert "(default: None)" not in recipe_part


def test_whole_model_weights_record_the_recipe_fit_trains_with():
    from maskrcnn_custom import MaskRCNNWeights
    from maskrcnn_custom.weights import weights_table_markdown

    entry = MaskRCNNWeights.SEED_RESNET101_V1.value
    assert entry.recipe == get_recipe(entry.meta["recipe_preset"]).to_dict()
    assert entry.training_recipe == get_recipe("seed")
    assert entry.training_recipe.lr_step_size == TrainingRecipe().lr_step_size == 6
    assert "| `MaskRCNNWeights.SEED_RESNET101_V1` |" in weights_table_markdown()
