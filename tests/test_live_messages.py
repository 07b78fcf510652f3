"""What the race component may send (``losslab.app.live_race``): a released live slider's value reaches its sidebar
widget; anything a page did not offer is ignored."""

from __future__ import annotations

import pytest

from losslab import live
from losslab.app import explore_sidebar


@pytest.fixture
def state(monkeypatch) -> dict:
    fake = {"opt": ["sgd", "momentum", "adam"], "sgd.lr": 0.035, "momentum.momentum": 0.9}
    monkeypatch.setattr(explore_sidebar, "state", fake)
    return fake


def send(state: dict, message) -> dict:
    state["race"] = message
    explore_sidebar.on_live_change()
    return state


def test_a_commit_sets_its_widget_and_a_click_sets_the_start(state):
    assert send(state, {"kind": "commit", "optimizer": "sgd", "key": "lr", "value": 0.05})["sgd.lr"] == 0.05
    assert send(state, {"kind": "commit", "optimizer": "momentum", "key": "momentum", "value": 0.5})[
        "momentum.momentum"] == 0.5
    assert send(state, {"kind": "commit", "optimizer": "adam", "key": "beta1", "value": 0.8})["adam.beta1"] == 0.8
    assert send(state, {"kind": "start", "x": 0.5, "y": -1})["start_click"] == (0.5, -1.0)


def test_one_shared_rate_takes_every_optimizers_commit(state):
    state["same_lr"] = True
    send(state, {"kind": "commit", "optimizer": "adam", "key": "lr", "value": 0.02})
    assert state["lr_all"] == 0.02 and state["sgd.lr"] == 0.035


@pytest.mark.parametrize("message", [
    None, "commit", [], {"kind": "commit"}, {"kind": "commit", "optimizer": "rmsprop", "key": "lr", "value": 0.1},
    {"kind": "commit", "optimizer": "sgd", "key": "momentum", "value": 0.5},  # sgd has no live α
    {"kind": "commit", "optimizer": "sgd", "key": "lr", "value": -1.0},
    {"kind": "commit", "optimizer": "sgd", "key": "lr", "value": 1e9},
    {"kind": "commit", "optimizer": "sgd", "key": "lr", "value": float("nan")},
    {"kind": "commit", "optimizer": "sgd", "key": "lr", "value": "0.1"},
    {"kind": "commit", "optimizer": "sgd", "key": "__class__", "value": 0.1},
    {"kind": "commit", "optimizer": "sgd", "value": 0.1}, {"kind": "commit", "optimizer": "sgd", "key": None},
    {"kind": "commit", "optimizer": "sgd", "key": "lr", "value": True}, {"kind": "start", "x": True, "y": 0},
    {"kind": "start", "x": float("inf"), "y": 0}, {"kind": "start", "x": "1", "y": 0},
    {"kind": "exec", "code": "import os"},
])
def test_anything_else_is_ignored(state, message):
    before = dict(state)
    send(state, message)
    assert {key: value for key, value in state.items() if key != "race"} == \
        {key: value for key, value in before.items() if key != "race"}


@pytest.mark.parametrize("message", [
    {"kind": "commit", "optimizer": "sgd", "value": 0.1}, {"kind": "commit", "optimizer": "sgd", "key": "momentum",
                                                          "value": 0.5},
    {"kind": "commit", "optimizer": "adam", "key": "beta1", "value": 1.5}, {"kind": "commit", "optimizer": "x"},
])
def test_the_one_check_refuses_what_a_page_did_not_offer(message):
    assert live.commit(message, {"sgd": ("lr",), "adam": ("lr", "beta1")}) is None


def test_the_one_check_returns_a_valid_commit():
    offered = {"sgd": ("lr",), "adam": ("lr", "beta1")}
    assert live.commit({"kind": "commit", "optimizer": "adam", "key": "beta1", "value": 0.8}, offered) == \
        ("adam", "beta1", 0.8)
