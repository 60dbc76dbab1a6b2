from assemblyd.pipeline.progress import Progress, TerminalBar, Update
from assemblyd.render.compose import MoviePyBars


def test_progress_never_goes_back_and_hits_100_only_on_finish():
    seen: list[Update] = []
    p = Progress(seen.append)
    p.within("probe", 1.0)
    p.within("render", 0.5)
    p.within("render", 0.2)  # late, lower: ignored
    p.report("verify", 100.0)  # a stage cannot claim the end
    p.finish()
    p.finish()
    percents = [u.percent for u in seen]
    assert percents == sorted(percents)
    assert percents.count(100.0) == 1
    assert seen[-1] == Update("done", 100.0)
    assert max(u.percent for u in seen[:-1]) < 100.0


def test_moviepys_frame_bar_is_the_renders_fraction():
    fractions: list[float] = []
    bars = MoviePyBars(fractions.append)
    for _ in bars.iter_bar(chunk=range(10)):  # a sound pass, if any, does not count
        pass
    assert fractions == []
    for _ in bars.iter_bar(frame_index=range(100)):
        pass
    assert fractions[0] == 0.01 and fractions[-1] == 1.0 and len(set(fractions)) == 100
    assert fractions == sorted(fractions)


def test_terminal_bar_shows_stage_and_percent(capsys):
    import sys

    bar = TerminalBar(file=sys.stderr, mininterval=0)
    p = Progress(bar)
    p.within("render", 0.5)
    p.finish()
    bar.close()
    err = capsys.readouterr().err
    assert "render" in err and "51%" in err and "100%" in err
