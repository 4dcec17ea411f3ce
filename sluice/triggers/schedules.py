"""EventBridge schedule expressions, `rate(...)` and `cron(...)`, read as AWS reads them
("Creating a rule that runs on a schedule", eb-scheduled-rule-pattern.html), and the
times they fire. All times are UTC, as EventBridge rules' schedules are.

cron has six fields: minutes, hours, day-of-month, month, day-of-week, year. Day-of-week
counts 1 = SUN .. 7 = SAT; one of day-of-month and day-of-week must be `?`. Wildcards:
`,` `-` `*` `/` everywhere, `?` `L` `W` in day-of-month, `?` `L` `#` in day-of-week.
"""

from __future__ import annotations

import calendar
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sluice.engine import virtual_time
from sluice.triggers.specs import RuleSpec

_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_CRON = re.compile(r"cron\((.*)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {n: i for i, n in enumerate(calendar.month_abbr) if n}  # "Jan" -> 1
_DAYS = {n: i + 1 for i, n in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
# How far ahead a cron schedule is searched for its next time (AWS's years end at 2199).
_HORIZON_DAYS = 366 * 5
_LOOK_AGAIN_S = 1.0


class ScheduleError(ValueError):
    """A schedule expression EventBridge would reject (PutRule's ValidationException)."""


@dataclass(frozen=True)
class Rate:
    """Every `seconds`, counted from when the rule was created."""

    seconds: int

    def next_after(self, created: datetime, after: datetime) -> datetime:
        periods = int((after - created).total_seconds() // self.seconds) + 1
        return created + timedelta(seconds=periods * self.seconds)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    day_of_month: str  # kept as written: `?`, `L`, `15W` depend on the month
    months: frozenset[int]
    day_of_week: str  # kept as written: `?`, `6L`, `3#2` depend on the month
    years: frozenset[int]

    def next_after(self, created: datetime, after: datetime) -> datetime:
        """The first time after AFTER that matches (CREATED is not used: cron is absolute)."""
        start = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        for _ in range(_HORIZON_DAYS):
            if self._matches_day(day):
                first = start if day == start.date() else None
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        when = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                        if first is None or when >= first:
                            return when
            day += timedelta(days=1)
        raise ScheduleError(f"cron schedule never fires within {_HORIZON_DAYS // 366} years")

    def _matches_day(self, day: date) -> bool:
        if day.year not in self.years or day.month not in self.months:
            return False
        if self.day_of_month != "?":
            return _day_of_month_matches(self.day_of_month, day)
        return _day_of_week_matches(self.day_of_week, day)


Schedule = Rate | Cron


def parse(expression: str) -> Schedule:
    """The schedule of EXPRESSION; ScheduleError naming what is wrong if AWS would refuse it."""
    text = expression.strip()
    if rate := _RATE.fullmatch(text):
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1:
            raise ScheduleError(f"{expression!r}: a rate must be a positive whole number")
        if (value == 1) != (not unit.endswith("s")):
            raise ScheduleError(
                f"{expression!r}: the unit is singular for a value of 1 and plural above it"
            )
        return Rate(value * _UNIT_SECONDS[unit.rstrip("s")])
    if cron := _CRON.fullmatch(text):
        return _cron(expression, cron.group(1).split())
    raise ScheduleError(f"{expression!r}: a schedule is rate(value unit) or cron(six fields)")


def _cron(expression: str, fields: list[str]) -> Cron:
    if len(fields) != 6:
        raise ScheduleError(f"{expression!r}: cron needs six fields, found {len(fields)}")
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(
            f"{expression!r}: one of day-of-month and day-of-week must be '?', not both"
        )
    try:
        if dom != "?":
            _check_day_of_month(dom)
        if dow != "?":
            _check_day_of_week(dow)
        return Cron(
            minutes=_values(minutes, 0, 59),
            hours=_values(hours, 0, 23),
            day_of_month=dom,
            months=_values(month, 1, 12, _MONTHS),
            day_of_week=dow,
            years=_values(year, 1970, 2199),
        )
    except ValueError as exc:
        raise ScheduleError(f"{expression!r}: {exc}") from None


def _number(text: str, names: dict[str, int] | None = None) -> int:
    key = text.capitalize() if names is _MONTHS else text.upper()
    if names and key in names:
        return names[key]
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a number{' or a name' if names else ''}")
    return int(text)


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """The values a field (`*`, `5`, `1-5`, `0/15`, `MON-FRI`, lists of those) stands for."""
    values: set[int] = set()
    for part in field.split(","):
        spec, _, step_text = part.partition("/")
        step = _number(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"step {step_text!r} must be at least 1")
        if spec == "*":
            first, last = low, high
        else:
            first_text, dash, last_text = spec.partition("-")
            first = _number(first_text, names)
            last = _number(last_text, names) if dash else (high if step_text else first)
        if not low <= first <= high or not low <= last <= high or first > last:
            raise ValueError(f"{part!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _check_day_of_month(field: str) -> None:
    if field in ("L", "LW"):
        return
    if field.endswith("W"):
        _values(field[:-1], 1, 31)
        if not field[:-1].isdigit():
            raise ValueError(f"{field!r}: W follows a single day")
        return
    _values(field, 1, 31)


def _check_day_of_week(field: str) -> None:
    if field.endswith("L") and field != "L":
        _values(field[:-1], 1, 7, _DAYS)
    elif "#" in field:
        weekday, _, nth = field.partition("#")
        _values(weekday, 1, 7, _DAYS)
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise ValueError(f"{field!r}: # is followed by 1 to 5")
    elif field != "L":
        _values(field, 1, 7, _DAYS)


def _weekday(day: date) -> int:
    """cron's day-of-week: 1 = SUN .. 7 = SAT (Python's Monday is 0)."""
    return (day.weekday() + 1) % 7 + 1


def _day_of_month_matches(field: str, day: date) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    if field == "L":
        return day.day == last
    if field.endswith("W"):
        return day.day == _nearest_weekday(day, last if field == "LW" else int(field[:-1]))
    return day.day in _values(field, 1, 31)


def _nearest_weekday(day: date, target: int) -> int:
    """The weekday nearest to TARGET (a day of DAY's month), not leaving the month."""
    last = calendar.monthrange(day.year, day.month)[1]
    target = min(target, last)
    weekday = date(day.year, day.month, target).weekday()  # Monday 0 .. Sunday 6
    if weekday == 5:  # Saturday: the Friday before, or the Monday after on the 1st
        return target - 1 if target > 1 else target + 2
    if weekday == 6:  # Sunday: the Monday after, or the Friday before on the last day
        return target + 1 if target < last else target - 2
    return target


def _day_of_week_matches(field: str, day: date) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    if field == "L":
        return _weekday(day) == 7
    if field.endswith("L"):
        return _weekday(day) in _values(field[:-1], 1, 7, _DAYS) and day.day + 7 > last
    if "#" in field:
        weekday, _, nth = field.partition("#")
        return _weekday(day) in _values(weekday, 1, 7, _DAYS) and (day.day - 1) // 7 + 1 == int(nth)
    return _weekday(day) in _values(field, 1, 7, _DAYS)


class Scheduler:
    """Fires each rule's schedule: at every time it names, FIRE(rule, when) is called with
    the scheduled time. Time runs at the stack's time scale (virtual_time): at 0.01 a
    `rate(1 hour)` rule fires every 36 s of real time; at 0 (no sleeping) schedules stand
    still, since a schedule that fired without end would be no test of anything."""

    def __init__(self, fire: Callable[[RuleSpec, datetime], object]) -> None:
        self._fire = fire
        self._cond = threading.Condition()
        self._due: dict[str, tuple[RuleSpec, Schedule, datetime, datetime]] = {}
        self._now = datetime.now(UTC)  # the schedules' clock, advanced at the time scale
        self._mark = time.monotonic()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def set_rules(self, rules: Sequence[RuleSpec]) -> None:
        """Schedule RULES' schedule expressions (parsed at deploy, so never bad here). A rule
        kept from the previous deploy keeps its next time, as an updated rule does on AWS."""
        with self._cond:
            now = self._advance()
            due = {}
            for rule in rules:
                if rule.schedule is None:
                    continue
                kept = self._due.get(rule.name)
                if kept is not None and kept[0].schedule == rule.schedule:
                    due[rule.name] = (rule, kept[1], kept[2], kept[3])
                else:
                    schedule = parse(rule.schedule)
                    due[rule.name] = (rule, schedule, now, schedule.next_after(now, now))
            self._due = due
            if due and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sluice-schedules", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5)

    def _advance(self) -> datetime:
        """The schedules' clock now: real time since the last look, divided by the scale."""
        mark = time.monotonic()
        scale = virtual_time.get_scale()
        if scale > 0:
            self._now += timedelta(seconds=(mark - self._mark) / scale)
        self._mark = mark
        return self._now

    def _run(self) -> None:
        while True:
            fired: list[tuple[RuleSpec, datetime]] = []
            with self._cond:
                if self._stopping:
                    return
                now = self._advance()
                for name, (rule, schedule, created, due) in list(self._due.items()):
                    if due <= now:
                        fired.append((rule, due))
                        self._due[name] = (
                            rule,
                            schedule,
                            created,
                            schedule.next_after(created, due),
                        )
                if not fired:
                    self._cond.wait(self._real_wait(now))
            for rule, when in fired:
                self._fire(rule, when)

    def _real_wait(self, now: datetime) -> float:
        """Real seconds until the next schedule is due, looked at again at least every
        second so that a change of the time scale takes effect."""
        scale = virtual_time.get_scale()
        if not self._due or scale == 0:
            return _LOOK_AGAIN_S
        due = min(entry[3] for entry in self._due.values())
        return max(0.0, min((due - now).total_seconds() * scale, _LOOK_AGAIN_S))
