import pytest
import torch

from distillscope.config import StudentSpec
from distillscope.models import ModelNotFoundError, build_student, load_model, resolve_model_path


def test_student_spec_rules():
    assert StudentSpec("every-other").resolve(6) == [0, 2, 4]
    assert StudentSpec("first:2").resolve(6) == [0, 1]
    assert StudentSpec("spread:3").resolve(7) == [0, 3, 6]
    assert StudentSpec("1,3").resolve(6) == [1, 3]
    with pytest.raises(ValueError, match="out of range"):
        StudentSpec("0,9").resolve(6)
    with pytest.raises(ValueError):
        StudentSpec("odd")


def test_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="never downloads"):
        resolve_model_path("HuggingFaceTB/SmolLM2-135M-Instruct")


def test_build_student_copies_kept_layers_and_reloads(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    teacher, tokenizer = load_model(tiny_model_dir)
    student = build_student(teacher, "1")
    assert student.config.num_hidden_layers == 1
    t_state, s_state = teacher.state_dict(), student.state_dict()
    for name, tensor in s_state.items():
        source = name.replace("layers.0.", "layers.1.")
        assert torch.equal(tensor, t_state[source]), name
    student.save_pretrained(str(tmp_path / "s"))
    again = AutoModelForCausalLM.from_pretrained(str(tmp_path / "s"))
    ids = tokenizer("hello there", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(again(ids).logits, student(ids).logits, atol=1e-5)


@pytest.mark.slow
def test_embedded_teacher_loads_and_answers(teacher_dir):

    model, tokenizer = load_model("smollm2-135m-instruct")
    assert model.config.num_hidden_layers == 30
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )["input_ids"]
    out = model.generate(ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, ids.shape[1] :])
    student = build_student(model, "every-other")
    assert student.config.num_hidden_layers == 15


def test_auto_spec_is_validated_and_needs_the_model():
    assert StudentSpec("auto:4").is_auto and StudentSpec("auto:4").count == 4
    with pytest.raises(ValueError, match="measured redundancy"):
        StudentSpec("auto:4").resolve(6)
    with pytest.raises(ValueError, match="positive integer"):
        StudentSpec("auto:x")


def _model_with_layers(tiny_model_dir, layers: int):
    from transformers import AutoTokenizer, LlamaForCausalLM

    from distillscope.models import tiny_model_config

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    torch.manual_seed(1)
    return LlamaForCausalLM(tiny_model_config(len(tokenizer), layers=layers)).eval(), tokenizer


def test_layer_redundancy_sees_a_layer_that_does_nothing(tiny_model_dir):
    from distillscope.models import choose_layers, layer_redundancy

    model, tokenizer = _model_with_layers(tiny_model_dir, 5)
    # Layer 2 made an identity: zero output projections leave the residual stream untouched.
    layer = model.model.layers[2]
    for weight in (layer.self_attn.o_proj.weight, layer.mlp.down_proj.weight):
        torch.nn.init.zeros_(weight)
    texts = ["What is 2 + 3?", "Sort these words: pear, apple, fig.", "Spell 'cat' backward."]
    distance = layer_redundancy(model, tokenizer, texts)
    assert len(distance) == 5 and distance[2] == pytest.approx(0.0, abs=1e-6)
    assert all(d > 1e-3 for i, d in enumerate(distance) if i != 2)
    keep = choose_layers(model, tokenizer, 4, texts)
    assert keep[0] == 0 and keep[-1] == 4 and 2 not in keep and len(keep) == 4
    student = build_student(model, "auto:4", tokenizer, texts)
    assert student.distillscope_layers == keep and student.config.num_hidden_layers == 4
    # Dropping the identity layer changes nothing: the 4-layer student computes what the teacher does.
    ids = tokenizer("hello there", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(student(ids).logits, model(ids).logits, atol=1e-4)


def test_auto_keeps_first_and_last_and_checks_the_count(tiny_model_dir):
    from distillscope.models import choose_layers

    model, tokenizer = _model_with_layers(tiny_model_dir, 4)
    assert choose_layers(model, tokenizer, 2, ["hi"]) == [0, 3]
    assert choose_layers(model, tokenizer, 4, ["hi"]) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="between 1 and 4"):
        choose_layers(model, tokenizer, 5, ["hi"])
    with pytest.raises(ValueError, match="tokenizer"):
        build_student(model, "auto:3")


def test_plain_auto_keeps_half_the_layers_by_measured_redundancy(tiny_model_dir):
    from distillscope.models import choose_layers
    from distillscope.train import TrainSettings

    spec = StudentSpec("auto")
    assert spec.is_auto and spec.count is None and TrainSettings().student_layers == "auto"
    model, tokenizer = _model_with_layers(tiny_model_dir, 5)
    layer = model.model.layers[2]  # an identity layer: the one ``auto`` must drop
    for weight in (layer.self_attn.o_proj.weight, layer.mlp.down_proj.weight):
        torch.nn.init.zeros_(weight)
    texts = ["What is 2 + 3?", "Sort these words: pear, apple, fig."]
    student = build_student(model, "auto", tokenizer, texts)
    # every-other would keep 0, 2, 4 (the identity layer included); auto keeps 3 of 5 too, chosen.
    assert student.distillscope_layers == choose_layers(model, tokenizer, 3, texts)
    assert len(student.distillscope_layers) == 3 and 2 not in student.distillscope_layers
    assert student.distillscope_layers[0] == 0 and student.distillscope_layers[-1] == 4


def test_build_student_cli_auto_writes_the_chosen_layers(tiny_model_dir, tmp_path):
    import subprocess
    import sys

    calibration = tmp_path / "calibration.txt"
    calibration.write_text("What is 2 + 3?\nName three fruits.\n")
    out = tmp_path / "auto-student"
    done = subprocess.run(
        [sys.executable, "-m", "distillscope", "models", "build-student", str(out), "--teacher",
         str(tiny_model_dir), "--layers", "auto:2", "--calibration", str(calibration)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "[0, 1]" in done.stdout + done.stderr and (out / "config.json").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "distillscope", "models", "build-student", str(tmp_path / "x"), "--teacher",
         str(tiny_model_dir), "--layers", "auto:9"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode != 0 and "between 1 and 2" in (bad.stdout + bad.stderr)
