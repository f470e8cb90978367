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
