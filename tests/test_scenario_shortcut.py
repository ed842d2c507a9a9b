"""`--deploy service@version[:strategy]`: red/black at a third of the run unless told otherwise."""

from __future__ import annotations

import pytest

from nanoservices.catalog import resolve_plan
from nanoservices.problems import InputError
from nanoservices.scenario import Canary, Deploy, Highlander, Judge, RedBlack, Rolling, parse_deploy_shortcut


def test_plain_shortcut_is_redblack_at_a_third_of_the_run() -> None:
    assert parse_deploy_shortcut("homepage@v2", 30.0) == Deploy(
        at=10.0, service="homepage", version="v2", strategy=RedBlack(), origin="--deploy"
    )


def test_canary_gets_the_default_share_and_a_window_ending_by_two_thirds() -> None:
    long = parse_deploy_shortcut("homepage@v2:canary", 60.0)
    short = parse_deploy_shortcut("homepage@v2:canary", 15.0)
    assert long.strategy == Canary(share=0.10, judge=Judge(after=10.0))
    assert (short.at, short.strategy) == (5.0, Canary(share=0.10, judge=Judge(after=5.0)))


def test_other_strategies() -> None:
    assert parse_deploy_shortcut("login@v3:rolling", 30).strategy == Rolling(steps=(0.25, 0.5, 1.0))
    assert parse_deploy_shortcut("login@v3:highlander", 30).strategy == Highlander()


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("homepage", ["'homepage' should be service@version[:strategy], e.g. homepage@v2:canary"]),
        (
            "homepage@v2:bluegreen",
            [
                "'homepage@v2:bluegreen': unknown strategy 'bluegreen'; use redblack, rolling, canary or "
                "highlander"
            ],
        ),
        ("homepag@v2", ["'homepag@v2': unknown service 'homepag'; did you mean 'homepage'?"]),
        (
            "nope@:x",
            [
                "'nope@:x': version \"\" is not a label; use letters, digits, '.', '_' or '-', such as v2",
                "'nope@:x': unknown service 'nope'; services: cassSubscriber, evcacheSubscriber, "
                "subscriber, login, "
                "homepage, wwwproxy, www-elb, www",
                "'nope@:x': unknown strategy 'x'; use redblack, rolling, canary or highlander",
            ],
        ),
    ],
)
def test_bad_shortcuts_name_the_flag(text: str, lines: list[str]) -> None:
    with pytest.raises(InputError) as caught:
        parse_deploy_shortcut(text, 30.0, resolve_plan("netflixoss"))
    assert [str(p) for p in caught.value.problems] == [f"--deploy: {line}" for line in lines]
