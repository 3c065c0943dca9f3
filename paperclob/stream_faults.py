"""The stream's fault switch: drop connections, or lose, cut at or delay chosen messages.

Set by `POST /_admin/stream` (or `exchange.stream.faults` in-process), for the tests that prove
the daemon resyncs by a REST sweep:

* `{"drop": ["user"]}` cuts every open connection of those channels now (no close frame: the
  client sees 1006, as after a network failure);
* `{"rules": [{"action": "lose" | "cut" | "delay", "channel": "user", "event_type": "trade",
  "match": "MATCHED", "api_key": "...", "count": 1, "delay_ms": 500}]}` adds rules, each for the
  next `count` messages it matches: `lose` never sends the message (the connection stays up:
  a missed event); `cut` drops the connection instead of sending it (a connection lost in the
  middle of a fill); `delay` sends it `delay_ms` later, so messages after it overtake it
  (out-of-order delivery). `event_type` ("order", "trade", "book", "tick_size_change"), `match`
  (an order event's `type`, e.g. PLACEMENT, or a trade's `status`, e.g. MATCHED) and `api_key`
  narrow a rule; empty matches any;
* `{"refuse_next": N}` closes the next N subscriptions (code 1013, "try again later") right
  after their first frame;
* `DELETE /_admin/stream` clears every rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ACTIONS = ("lose", "cut", "delay")
CHANNELS = ("user", "market")
EVENT_TYPES = ("", "order", "trade", "book", "tick_size_change")


@dataclass
class StreamRule:
    action: str
    channel: str = "user"
    event_type: str = ""
    match: str = ""
    api_key: str = ""
    count: int = 1
    delay_ms: int = 0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        if self.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
        if self.event_type not in EVENT_TYPES:
            raise ValueError(f"event_type must be one of {', '.join(EVENT_TYPES[1:])}")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError("count must be a whole number of at least 1")
        if isinstance(self.delay_ms, bool) or not isinstance(self.delay_ms, int) \
                or self.delay_ms < 0:
            raise ValueError("delay_ms must be a whole number of milliseconds")
        self.match = str(self.match).upper()

    def matches(self, *, channel: str, event_type: str, match: str, api_key: str) -> bool:
        return (
            self.count > 0
            and self.channel == channel
            and self.event_type in ("", event_type)
            and self.match in ("", match.upper())
            and self.api_key in ("", api_key)
        )


@dataclass
class StreamFaults:
    rules: list[StreamRule] = field(default_factory=list)
    refuse_next: int = 0
    lost: int = 0  # messages lost or cut by a rule so far
    delayed: int = 0

    def take(self, *, channel: str, event_type: str, match: str, api_key: str
             ) -> StreamRule | None:
        """The rule that applies to this message (its count is used up), or None."""
        for rule in self.rules:
            if rule.matches(channel=channel, event_type=event_type, match=match,
                            api_key=api_key):
                rule.count -= 1
                if rule.action == "delay":
                    self.delayed += 1
                else:
                    self.lost += 1
                self.rules = [r for r in self.rules if r.count > 0]
                return rule
        return None

    def add_rules(self, raw: Any) -> None:
        if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
            raise ValueError("rules takes a list of objects")
        try:
            self.rules.extend(StreamRule(**r) for r in raw)
        except TypeError as exc:
            raise ValueError(f"a rule has an unknown key: {exc}") from None

    def reset(self) -> None:
        self.rules.clear()
        self.refuse_next = 0

    def to_json(self) -> dict[str, Any]:
        return {"rules": [asdict(r) for r in self.rules], "refuse_next": self.refuse_next,
                "lost": self.lost, "delayed": self.delayed}


__all__ = ["StreamFaults", "StreamRule"]
