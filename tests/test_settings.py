from assemblyd.settings import load_settings


def test_precedence_is_flags_then_env_then_toml(tmp_path, monkeypatch):
    toml = tmp_path / "assemblyd.toml"
    toml.write_text('audio_bitrate = "256k"\nffmpeg_threads = 3\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("ASSEMBLYD_CONFIG", str(toml))
    monkeypatch.setenv("ASSEMBLYD_FFMPEG_THREADS", "2")
    s = load_settings(log_level="WARNING", audio_sample_rate=None)
    assert s.audio_bitrate == "256k"  # from the file
    assert s.ffmpeg_threads == 2  # env beats file
    assert s.log_level == "WARNING"  # flag beats both
    assert s.audio_sample_rate == 48000  # default; None means "flag not given"


def test_repository_config_documents_every_setting():
    from pathlib import Path

    from assemblyd.settings import Settings

    text = (Path(__file__).resolve().parents[1] / "config" / "assemblyd.toml").read_text()
    for name in Settings.model_fields:
        assert f"# {name} =" in text or f"\n{name} =" in text, name


def test_path_map_rewrites_prefixes_only():
    from assemblyd.settings import Settings, map_path

    s = Settings(path_map={"/mnt/nas": "/Volumes/nas"})
    assert map_path("/mnt/nas/show/seq/assembly.json", s) == "/Volumes/nas/show/seq/assembly.json"
    assert map_path("/mnt/nas", s) == "/Volumes/nas"
    assert map_path("/mnt/nasty/x.json", s) == "/mnt/nasty/x.json"
    assert map_path("/srv/x.json", Settings()) == "/srv/x.json"
