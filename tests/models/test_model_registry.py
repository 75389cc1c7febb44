import keras
import pytest

from keras_mia import models
from keras_mia.models import registry

EXPECTED = {
    "inception_v3_gap",
    "resnet18",
    "resnet50_patch",
    "resnet50_whole_image",
    "dense_prediction_28",
}


def test_list_models_has_the_five_systems():
    assert set(models.list_models()) == EXPECTED


def test_build_returns_a_model_named_like_its_registry_entry():
    model = models.build("resnet18", input_shape=(32, 32))
    assert isinstance(model, keras.Model)
    assert model.name == "resnet18"


def test_unknown_name_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="resnet1000") as info:
        models.build("resnet1000")
    assert "resnet18" in str(info.value)


def test_unknown_option_is_rejected_with_the_accepted_ones():
    with pytest.raises(ValueError, match="colour") as info:
        models.build("resnet18", colour="red")
    assert "input_channels" in str(info.value)


def test_registering_a_name_twice_is_an_error():
    def other_builder():
        return None

    with pytest.raises(ValueError, match="already registered"):
        registry.register_model("resnet18")(other_builder)


def test_every_builder_documents_source_input_and_output():
    for name in models.list_models():
        doc = models.get_builder(name).__doc__
        for section in ("Reference:", "Args:", "Input:", "Returns:", "Raises:"):
            assert section in doc, (name, section)
