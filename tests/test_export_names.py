"""The challenge's naming rules: what is accepted, what is rejected, and why."""
from __future__ import annotations

import pytest

from vlcultura.config import ExportConfig
from vlcultura.data.kto import check_names
from vlcultura.data.names import (NameRuleError, check_dataset_name, prompts_name_for, suggest_name)


@pytest.mark.parametrize("name", [
    "utensilios_ecuador_images_kto",
    "somosnlp-hackathon-2026/utensilios_ecuador_images_kto",
    "somosnlp-hackathon-2026/comida_bolivia_image_kto",
])
def test_accepted_kto_image_names(name):
    check = check_dataset_name(name, "images_kto")
    assert check.ok, check.errors


@pytest.mark.parametrize("name, why", [
    ("comida_bolivia_kto", "must contain 'image'"),
    ("comida_bolivia_images", "must contain 'kto'"),
    ("comida_bolivia_images_dpo", "must contain 'kto'"),
    ("comida_bolivia_images_kto_dpo", "no other algorithm"),
    ("Comida_Bolivia_images_kto", "lowercase"),
    ("comida bolivia images kto", "not a valid Hub repo id"),
    ("org/sub/comida_images_kto", "not a valid Hub repo id"),
    ("comida--bolivia_images_kto", "not a valid Hub repo id"),
])
def test_rejected_kto_image_names(name, why):
    check = check_dataset_name(name, "images_kto")
    assert not check.ok
    with pytest.raises(NameRuleError, match=why):
        check.raise_for_errors()


def test_prompts_rules_and_minimum():
    assert check_dataset_name("normas_culturales_colombia_prompts", "prompts", n_prompts=100).ok
    small = check_dataset_name("normas_culturales_colombia_prompts", "prompts", n_prompts=99)
    assert small.errors == ["a prompts dataset needs at least 100 prompts; it has 99"]
    assert not check_dataset_name("normas_culturales_colombia", "prompts").ok


def test_warnings_for_org_and_suffix():
    check = check_dataset_name("mi-usuario/kto_images_comida_bolivia", "images_kto")
    assert check.ok
    assert any("somosnlp-hackathon-2026" in w for w in check.warnings)
    assert any("_images_kto" in w for w in check.warnings)
    assert check_dataset_name("musica_peru_dpo", "dpo").ok
    assert not check_dataset_name("musica_peru_images_dpo", "dpo").ok


def test_suggested_names_pass_their_own_rules():
    assert suggest_name("comida", "BO", "images_kto") == "comida_bolivia_images_kto"
    assert suggest_name("artesanía", "México", "prompts", "somosnlp-hackathon-2026") == \
        "somosnlp-hackathon-2026/artesania_mexico_prompts"
    assert prompts_name_for("org/utensilios_ecuador_images_kto") == "org/utensilios_ecuador_prompts"
    for kind in ("images_kto", "prompts", "dpo"):
        assert check_dataset_name(suggest_name("fiestas", "PE", kind), kind).ok


def test_export_checks_names_before_anything():
    kto, prompts, warnings = check_names(ExportConfig(name="utensilios_ecuador_images_kto"), n_prompts=150)
    assert (kto, prompts, warnings) == ("somosnlp-hackathon-2026/utensilios_ecuador_images_kto",
                                        "somosnlp-hackathon-2026/utensilios_ecuador_prompts", [])
    _, _, warnings = check_names(ExportConfig(name="utensilios_ecuador_images_kto"), n_prompts=12)
    assert "fewer than the 100" in warnings[0]
    with pytest.raises(NameRuleError, match="must contain 'image'"):
        check_names(ExportConfig(name="utensilios_ecuador_kto"), n_prompts=150)
    with pytest.raises(NameRuleError, match="must contain 'prompt'"):
        check_names(ExportConfig(name="a_images_kto", prompts_name="a_preguntas"), n_prompts=150)
