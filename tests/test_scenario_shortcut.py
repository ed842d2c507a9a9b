"""`--deploy service@version[:strategy]`: red/black at a third of the run unless told otherwise."""

from __future__ import annotations

import pytest

from nanoservices.catalog import resolve_plan
from nanoservices.problems import InputError
from nanoservices.scenario import Canary, Deploy, Highlander, Judge, RedBlack, Rolling, parse_deploy_shortcut
from nanoservices.scenario.shortcut import requests_per_second


def test_plain_shortcut_is_redblack_at_a_third_of_the_run() -> None:
    assert parse_deploy_shortcut("homepage@v2", 30.0) == Deploy(
        at=10.0, service="homepage", version="v2", strategy=RedBlack(), origin="--deploy"
    )


def test_canary_starts_at_a_tenth_with_a_window_of_up_to_a_third_and_a_fifteenth_kept() -> None:
    long = parse_deploy_shortcut("homepage@v2:canary", 90.0)
    short = parse_deploy_shortcut("homepage@v2:canary", 15.0)
    assert (long.at, long.strategy) == (9.0, Canary(share=0.10, judge=Judge(after=10.0), keep=5.0))
    assert (short.at, short.strategy) == (1.5, Canary(share=0.10, judge=Judge(after=5.0), keep=1.0))


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


def test_a_canary_window_is_sized_for_twice_the_judges_minimum_at_the_asked_rate() -> None:
    plan = resolve_plan("netflixoss")
    # wwwproxy sends each request to one of its 18 login and 24 homepage instances: homepage gets
    # 24/42 of the 100 requests/s, its canary 10 % of that (40/7 per s): 40 requests take 7 s
    assert requests_per_second(plan, "homepage", 100.0) == pytest.approx(100 * 24 / 42)
    assert requests_per_second(plan, "wwwproxy", 100.0) == pytest.approx(100.0)
    short = parse_deploy_shortcut("homepage@v2:canary", 15.0, plan, rate=100.0)
    assert short.strategy == Canary(share=0.10, judge=Judge(after=7.0), keep=1.0)
    long = parse_deploy_shortcut("homepage@v2:canary", 90.0, plan, rate=100.0)
    assert long.strategy == Canary(share=0.10, judge=Judge(after=10.0))  # the default, when it fits
    slow = parse_deploy_shortcut("homepage@v2:canary", 120.0, plan, rate=10.0)  # 4/7 per s: 70 s
    assert slow.strategy == Canary(share=0.10, judge=Judge(after=70.0))


def test_a_canary_whose_sample_cannot_fit_the_run_is_refused_with_the_fix() -> None:
    with pytest.raises(InputError) as caught:
        parse_deploy_shortcut("homepage@v2:canary", 30.0, resolve_plan("netflixoss"), rate=10.0)
    assert [str(p) for p in caught.value.problems] == [
        "--deploy: 'homepage@v2:canary': the canary's 10% of homepage's ~5.71 requests/s needs a 70s judge "
        "window for 2x the judge's minimum of 20 requests, and from 3s that ends after the run; "
        "run longer (-d 78s) or raise --rate"
    ]


def test_a_canary_of_a_service_no_traffic_reaches_is_refused() -> None:
    plan = resolve_plan("yogi")
    assert requests_per_second(plan, "consumer-cindy", 100.0) == 0.0  # nothing calls it
    with pytest.raises(InputError) as caught:
        parse_deploy_shortcut("consumer-cindy@v2:canary", 60.0, plan, rate=100.0)
    assert [str(p) for p in caught.value.problems] == [
        "--deploy: 'consumer-cindy@v2:canary': no traffic source reaches consumer-cindy, so its canary's "
        "judge would have nothing to compare; deploy it with :redblack"
    ]
