"""Settings are declared once, documented, validated and loaded from the home folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesearch.config import CONFIG_FILE, Settings
from facesearch.errors import ConfigError


def test_every_setting_is_documented() -> None:
    for name, (_default, doc) in Settings.documentation().items():
        assert len(doc) > 20, f"setting {name} lacks a real description"


def test_toml_overrides_defaults(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).write_text('detector = "cnn"\nupsample = 2\nenroll_min_sharpness = 10\n')
    settings = Settings.load(tmp_path)
    assert (settings.detector, settings.upsample, settings.enroll_min_sharpness) == ("cnn", 2, 10.0)
    assert settings.top_k == Settings().top_k


@pytest.mark.parametrize(
    "text, problem",
    [
        ("detector = 'sift'", "detector"),
        ("upsample = 9", "upsample"),
        ("colour = 'red'", "unknown setting"),
        ("top_k = 'five'", "top_k"),
        ("keep_crops = 1", "keep_crops"),
        ("detector = ", "not valid TOML"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / CONFIG_FILE).write_text(text)
    with pytest.raises(ConfigError, match=problem):
        Settings.load(tmp_path)


def test_every_index_backend_setting_opens_an_index() -> None:
    from facesearch.config import INDEX_BACKENDS
    from facesearch.index.keeper import BACKENDS

    # file backends, the database one and the server one (tests/index/test_milvus.py)
    assert set(INDEX_BACKENDS) == set(BACKENDS) | {"pgvector", "milvus"}
