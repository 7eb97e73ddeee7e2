"""The hosting interface: what the runtime needs of the actor layer beyond the user API.

roost.runtime hosts actors through two doors only: the user API (``roost.actors``) and this
module, never a private module of actors/ (tests/test_layers.py fails on such an import). So
the actor layer may reorganise its private modules freely as long as this contract holds.

It is public to the package, not to users: an app has no reason to import it, and its names
follow the runtime rather than a deprecation policy.

What is here, and why the runtime needs it:

- :class:`ActorHost` is what the runtime implements for each activation (runtime/_slot.py).
- :class:`Alarms` and :class:`AlarmChanges` are built per activation; :func:`complete_alarm`,
  :func:`complete_runtime_alarm` and :func:`record_alarm_failure` are the alarm turn's
  bookkeeping (G5), kept off the actor-facing ``Alarms`` API.
- :class:`Presence` and :class:`PresenceStore`: presence state lives on the slot so it
  survives hibernation; :data:`EXPIRY_ALARM` is its runtime alarm.
- :func:`bind_call` and :func:`http_callable` check an rpc call against the actor class
  (envelope calls, actor-to-actor calls, HTTP rpc).
"""

from __future__ import annotations

from ._actor import ActorHost
from ._alarms import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_DELAY,
    RESERVED_PREFIX,
    Alarm,
    AlarmChanges,
    Alarms,
)
from ._presence_channel import EXPIRY_ALARM, Presence, PresenceStore
from ._rpc import bind_call, http_callable

#: Alarm names that belong to the runtime (presence expiry): they never leave their node.
RESERVED_ALARM_PREFIX = RESERVED_PREFIX

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_RETRY_DELAY",
    "EXPIRY_ALARM",
    "RESERVED_ALARM_PREFIX",
    "ActorHost",
    "Alarm",
    "AlarmChanges",
    "Alarms",
    "Presence",
    "PresenceStore",
    "bind_call",
    "complete_alarm",
    "complete_runtime_alarm",
    "http_callable",
    "record_alarm_failure",
]


def complete_alarm(alarms: Alarms, alarm: Alarm) -> None:
    """After a successful attempt: the alarm is done unless its handler set it anew."""
    alarms._complete(alarm)


def complete_runtime_alarm(alarms: Alarms, name: str) -> None:
    """A runtime alarm (presence expiry) fired: remove it; its handler re-arms it if needed."""
    alarms._complete_internal(name)


def record_alarm_failure(alarms: Alarms, alarm: Alarm, now: float) -> Alarm | None:
    """After a failed attempt: schedule the retry or quarantine it; returns the new state
    (None when the alarm was deleted meanwhile)."""
    return alarms._record_failure(alarm, now)
