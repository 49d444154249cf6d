"""Telegram text commands: what each parses to, and errors naming the bad argument."""

from __future__ import annotations

import pytest

from app.core.chatops.actions import Verb
from app.core.chatops.commands import HELP, Command, CommandError, Name, UnknownCommand, parse_command


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/ack", Command(Name.ACK)),
        ("/ack 42", Command(Name.ACK, "42")),
        ("/ack #g42", Command(Name.ACK, "g42")),
        ("/ACK@AlertmedicBot", Command(Name.ACK)),
        ("  /unack  ", Command(Name.UNACK)),
        ("/unsilence g7", Command(Name.UNSILENCE, "g7")),
        ("/silence 2h", Command(Name.SILENCE, None, 7200.0, "")),
        ("/silence 2h  planned   migration ", Command(Name.SILENCE, None, 7200.0, "planned   migration")),
        ("/silence 42 1h30m db failover", Command(Name.SILENCE, "42", 5400.0, "db failover")),
        ("/silence@alertmedicbot 4h", Command(Name.SILENCE, None, 14400.0, "")),
        ("/silence\n2h\nplanned migration", Command(Name.SILENCE, None, 7200.0, "planned migration")),
        ("/ack\n42", Command(Name.ACK, "42")),
        ("/alerts", Command(Name.ALERTS)),
        ("/actions", Command(Name.ACTIONS)),
        ("/approve 17", Command(Name.APPROVE, "17")),
        ("/reject 17 not during the release", Command(Name.REJECT, "17", comment="not during the release")),
        ("/whoami", Command(Name.WHOAMI)),
        ("/help", Command(Name.HELP)),
    ],
)
def test_commands(text: str, expected: Command) -> None:
    assert parse_command(text, bot_username="AlertmedicBot") == expected


@pytest.mark.parametrize(
    "text", ["hello", "", "  ", "ack", "/", "/ack@OtherBot", "/silence@other_bot 4h", "/ack-now", "/ack@"]
)
def test_not_a_command_for_us(text: str) -> None:
    assert parse_command(text, bot_username="@alertmedicbot") is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("/silence", "/silence needs a duration"),
        ("/silence soon", "'soon' is not a duration"),
        ("/silence 42 soon", "'soon' is not a duration"),
        ("/silence 0s", "more than 0 (got '0s')"),
        ("/silence 10d", "'10d' is longer than the longest allowed silence, 7d"),
        ("/silence 4h@x", "'4h@x' is not an id"),
        ("/ack 42 43", "takes at most an id (got '43'"),
        ("/ack g!", "'g!' is not an id"),
        ("/approve", "/approve needs the id of the action"),
        ("/approve 17 now", "/approve takes only an id (got 'now'"),
        ("/whoami please", "/whoami takes no arguments (got 'please')"),
    ],
)
def test_errors_name_the_bad_argument(text: str, words: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_command(text, max_duration=7 * 86400)
    assert words in str(info.value)


def test_unknown_command_is_its_own_error() -> None:
    with pytest.raises(UnknownCommand, match="unknown command /start; /help"):
        parse_command("/start")


def test_verbs_and_help_cover_every_command() -> None:
    assert {n.verb for n in Name} - {None} == set(Verb)
    assert Name.ALERTS.verb is None and Name.WHOAMI.verb is None
    assert set(HELP) == set(Name)
