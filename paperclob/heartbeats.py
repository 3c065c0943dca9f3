"""The order heartbeat (dead-man switch) per API key (clob-v2-wire.md 2.2).

* `POST /v1/heartbeats {"heartbeat_id": id}`: the first send carries `""`; every 200 answer
  `{"heartbeat_id": "<uuid>"}` names the id the next send must carry. While the switch is armed,
  a send with any other id (`""` included) is refused with 400 and the expected id:
  `{"error_msg": "Invalid Heartbeat ID", "heartbeat_id": "<expected>"}` (both official SDKs), or
  under `error` (the OpenAPI) with `--heartbeat-error-key error`. A refused send does not extend
  the deadline. When the switch is not armed (never, or it fired) any id arms it.
* `POST /heartbeats` (no body) answers `{"status": "ok"}`: it arms or extends the same switch and
  leaves the chained id as it is (the reference is silent on how the two interact).
* From the first accepted send, a gap longer than the timeout (`--heartbeat-timeout`, default
  10 s) cancels every open order of that API key; the registration is then gone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from paperclob import errors

ERROR_KEYS = ("error_msg", "error")


@dataclass
class Beat:
    heartbeat_id: str
    last_seen: float


class Heartbeats:
    def __init__(self, *, timeout_s: float, error_key: str = "error_msg") -> None:
        self.timeout_s = timeout_s
        self.error_key = error_key
        self._beats: dict[str, Beat] = {}

    def send(self, api_key: str, given_id: str, now: float) -> str:
        """A chained send; returns the id the next send must carry."""
        beat = self._beats.get(api_key)
        if beat is not None and given_id != beat.heartbeat_id:
            raise errors.ApiError(
                400, errors.INVALID_HEARTBEAT, key=self.error_key, heartbeat_id=beat.heartbeat_id
            )
        new_id = str(uuid.uuid4())
        self._beats[api_key] = Beat(new_id, now)
        return new_id

    def ping(self, api_key: str, now: float) -> None:
        """The unchained `POST /heartbeats`: arm or extend, keep the expected id."""
        beat = self._beats.get(api_key)
        if beat is None:
            self._beats[api_key] = Beat(str(uuid.uuid4()), now)
        else:
            beat.last_seen = now

    def lapsed(self, now: float) -> list[str]:
        """API keys whose deadline passed; their registrations are dropped."""
        gone = [k for k, b in self._beats.items() if now - b.last_seen > self.timeout_s]
        for api_key in gone:
            del self._beats[api_key]
        return gone

    def expected(self, api_key: str) -> str | None:
        beat = self._beats.get(api_key)
        return beat.heartbeat_id if beat else None
