"""Model ids are validated before they become paths."""

import pytest

from hubindex.errors import HubindexError
from hubindex.ids import id_for_folder, model_path, validate_model_id


@pytest.mark.parametrize("good", ["org/name", "Org-1/name_2.v3", "gpt2", "a/b"])
def test_hub_style_ids_pass(good):
    assert validate_model_id(good) == good


@pytest.mark.parametrize("bad", ["../etc/passwd", "org/../../x", "/abs/path", "org/name/extra", "org\\name",
                                 "", "org/", "org/na..me", "org/.hidden", "org/name\n", "org/na me", "-org/x"])
def test_hostile_ids_are_rejected(bad, tmp_path):
    with pytest.raises(HubindexError, match="invalid model id"):
        model_path(tmp_path, bad)


def test_id_for_folder_uses_last_two_parts(tmp_path):
    assert id_for_folder(tmp_path / "acme" / "model-1") == "acme/model-1"
