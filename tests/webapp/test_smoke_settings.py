def test_it_uses_an_isolated_media_root(settings, tmp_path):
    assert str(settings.MEDIA_ROOT).startswith(str(tmp_path))
