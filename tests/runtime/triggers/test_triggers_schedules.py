"""Schedule expressions read as EventBridge reads them: the expected times are the meanings
the EventBridge user guide gives its examples ("Cron expressions reference",
eb-cron-expressions.html; "Rate expressions", eb-rate-expressions.html)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sluice.triggers import schedules

# Thursday 3 December 2026, 07:40 UTC.
NOW = datetime(2026, 12, 3, 7, 40, tzinfo=UTC)


def fires(expression: str, count: int, after: datetime = NOW) -> list[str]:
    schedule = schedules.parse(expression)
    times, t = [], after
    for _ in range(count):
        t = schedule.next_after(after, t)
        times.append(t.strftime("%a %Y-%m-%d %H:%M"))
    return times


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # "Run at 10:00 am (UTC+0) every day"
        ("cron(0 10 * * ? *)", ["Thu 2026-12-03 10:00", "Fri 2026-12-04 10:00"]),
        # "Run at 6:00 pm (UTC+0) every Monday through Friday"
        (
            "cron(0 18 ? * MON-FRI *)",
            ["Thu 2026-12-03 18:00", "Fri 2026-12-04 18:00", "Mon 2026-12-07 18:00"],
        ),
        # "Run at 8:00 am (UTC+0) every first day of the month"
        ("cron(0 8 1 * ? *)", ["Fri 2027-01-01 08:00", "Mon 2027-02-01 08:00"]),
        # "Run every 10 min on weekdays"
        ("cron(0/10 * ? * MON-FRI *)", ["Thu 2026-12-03 07:50", "Thu 2026-12-03 08:00"]),
        # "Run every 5 minutes Monday through Friday between 8:00 am and 5:55 pm (UTC+0)"
        ("cron(0/5 8-17 ? * MON-FRI *)", ["Thu 2026-12-03 08:00", "Thu 2026-12-03 08:05"]),
        # "Run at 9 a.m. (UTC) the first Monday of each month" (2 = MON, #1 = the first)
        ("cron(0 9 ? * 2#1 *)", ["Mon 2026-12-07 09:00", "Mon 2027-01-04 09:00"]),
        # 1/10: every tenth minute from the first (the guide: 11th, 21st, 31st, ...)
        ("cron(1/10 * * * ? *)", ["Thu 2026-12-03 07:41", "Thu 2026-12-03 07:51"]),
        # L: the last day of the month; 6L: the month's last Friday (6 = FRI)
        ("cron(0 0 L * ? *)", ["Thu 2026-12-31 00:00", "Sun 2027-01-31 00:00"]),
        ("cron(0 0 ? * 6L *)", ["Fri 2026-12-25 00:00", "Fri 2027-01-29 00:00"]),
        # W: the weekday nearest the day (5 Dec 2026 is a Saturday: Friday the 4th)
        ("cron(0 12 5W * ? *)", ["Fri 2026-12-04 12:00", "Tue 2027-01-05 12:00"]),
        # Years and month names
        ("cron(30 6 ? JAN,JUL SUN 2027)", ["Sun 2027-01-03 06:30", "Sun 2027-01-10 06:30"]),
    ],
)
def test_cron_fires_at_the_times_the_user_guide_describes(
    expression: str, expected: list[str]
) -> None:
    assert fires(expression, len(expected)) == expected


def test_a_rate_counts_from_when_the_rule_was_created() -> None:
    assert fires("rate(5 minutes)", 3) == [
        "Thu 2026-12-03 07:45",
        "Thu 2026-12-03 07:50",
        "Thu 2026-12-03 07:55",
    ]
    assert fires("rate(1 day)", 2) == ["Fri 2026-12-04 07:40", "Sat 2026-12-05 07:40"]
    assert fires("rate(12 hours)", 1) == ["Thu 2026-12-03 19:40"]


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("rate(1 minutes)", "singular for a value of 1"),
        ("rate(5 minute)", "singular for a value of 1 and plural above"),
        ("rate(0 minutes)", "positive whole number"),
        ("rate(5 seconds)", "rate(value unit)"),
        ("cron(0 10 * * *)", "six fields, found 5"),
        ("cron(0 10 * * * *)", "one of day-of-month and day-of-week must be '?'"),
        ("cron(0 10 ? * ? *)", "one of day-of-month and day-of-week must be '?'"),
        ("cron(60 10 * * ? *)", "'60' is outside 0-59"),
        ("cron(0 10 ? * 3#1,6#3 *)", "# is followed by 1 to 5"),
        ("cron(0 10 * FOO ? *)", "'FOO' is not a number or a name"),
        ("every day", "rate(value unit) or cron(six fields)"),
    ],
)
def test_an_expression_eventbridge_refuses_is_refused_with_why(expression: str, why: str) -> None:
    with pytest.raises(schedules.ScheduleError, match=why.replace("(", r"\(").replace(")", r"\)")):
        schedules.parse(expression)
