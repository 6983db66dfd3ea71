"""Messages are data: every code has its English and its Chinese wording, and both fill in their parameters."""

from __future__ import annotations

import re

import pytest

from indexer.messages import ENGLISH, Message
from server.messages import CHINESE, chinese


def test_every_code_is_worded_in_both_languages():
    assert set(CHINESE) == set(ENGLISH)


@pytest.mark.parametrize("code", sorted(ENGLISH))
def test_each_wording_uses_only_parameters_the_other_knows(code):
    english = set(re.findall(r"{(\w+)", ENGLISH[code]))
    chinese_names = set(re.findall(r"{(\w+)", CHINESE[code]))
    assert chinese_names <= english, (code, chinese_names - english)


def test_parameters_are_filled_in_and_named_for_the_page():
    message = Message("out_of_range", {"name": "size", "low": 1, "high": 100, "value": 101})
    assert message.text() == "size must be between 1 and 100, got 101"
    assert chinese(message) == "每页条数须在 1 到 100 之间，收到的是 101。"
    assert message.to_json() == {"code": "out_of_range", "params": message.params, "text": message.text()}


def test_a_message_missing_a_parameter_still_words_something():
    assert Message("out_of_range", {}).text().startswith("{name}")
    assert Message("no_such_code", {"x": 1}).text() == "no_such_code"
