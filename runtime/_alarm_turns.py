"""Alarm turns (G5): an alarm that is due runs as a turn of its actor; a failure is retried
with backoff and, when it keeps failing, quarantined and reported, never looped forever.

Two kinds of failure: the handler raised (the alarm's own attempt count, kept in the actor's
SQLite, decides the retry), or the turn failed before the handler ran (the actor could not
activate: the node's scheduler backs off the index entry). The scheduler calls these through
the registry's ``fire_due_alarm``, a batch of one actor's due alarms at a time
(:func:`fire_alarms`: one activation for all of them, each alarm still its own turn and
commit, so one failing alarm rolls back only itself); the test kit's ``Server.fire_alarm``
forces one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import attrs

from roost._errors import CommitFailed
from roost.actors import Actor
from roost.actors.hosting import (
    EXPIRY_ALARM,
    Alarm,
    complete_alarm,
    complete_runtime_alarm,
    record_alarm_failure,
)

from ._alarms import AlarmScheduler, Backoff
from ._placement import NotOwner
from ._slot import ActorSlot

log = logging.getLogger("roost.actor")


async def fire_alarms(slot: ActorSlot, names: Sequence[str]) -> None:
    """Run the actor's due alarms ``names``, one turn each, in order (G5).

    The first turn activates an evicted actor; the others find it active. If it cannot
    activate, the rest are not tried again now: each backs off as the first did. Several
    alarms share one transaction (group commit: each turn in a savepoint, so a failing
    alarm rolls back only itself), committed before this returns.

    Raises:
        CommitFailed: the actor restarted during the batch (its group's COMMIT failed):
            the alarms that did not commit are still due; the scheduler backs them off.
    """
    group = len(names) > 1
    instance = None
    for i, name in enumerate(names):
        failed = await _fire(slot, name, may_group=group)
        if failed is not None:
            rest = names[i + 1 :]
            if rest:
                _could_not_fire(slot, slot.registry.scheduler, rest, failed, first=False)
            break
        instance = instance or slot.actor
    if not group:
        return
    if slot.group_open:  # cancelled before this point, the committer closes it instead
        slot.waiting += 1
        try:
            async with slot.lock:
                slot.flush_group()
        finally:
            slot.waiting -= 1
    if instance is not None and slot.actor is not instance:
        # Restarted (a failed COMMIT, this batch's or another turn's) or evicted meanwhile:
        # the alarms whose changes did not reach the scheduler back off (none did, if the
        # eviction committed them; a stale entry is then retried once more, not dropped).
        raise CommitFailed(f"{slot.actor_type}/{slot.key} restarted during its alarms' group")


async def fire_alarm(slot: ActorSlot, name: str, *, force: bool = False) -> None:
    """Run the due alarm ``name`` as a turn; on failure schedule a retry or quarantine it.

    ``force`` fires it even before its due time (the test kit's ``fire_alarm``).
    """
    await _fire(slot, name, force=force)


async def _fire(
    slot: ActorSlot, name: str, *, force: bool = False, may_group: bool = False
) -> Exception | None:
    """:func:`fire_alarm`; returns the exception when the turn failed before the alarm's
    handler ran (the actor could not activate), after backing the alarm off."""
    stats = slot.registry.stats
    fired: list[Alarm] = []

    async def fire(actor: Actor) -> None:
        if name == EXPIRY_ALARM:
            complete_runtime_alarm(slot.alarms, name)
            slot.presence.expire()
            return
        alarm = slot.alarms.get(name)
        if alarm is None or alarm.quarantined:
            slot.alarm_changes.changed[name] = None  # nothing to fire: off the schedule
            return
        now = slot.now()
        if alarm.due_at > now and not force:  # the index was behind: never early
            slot.alarm_changes.changed[name] = alarm.due_at
            return
        fired.append(alarm)
        stats.alarms_fired_total += 1
        stats.alarm_lateness_seconds.observe(max(0.0, now - alarm.due_at))
        await actor.on_alarm(attrs.evolve(alarm, attempt=alarm.attempt + 1))
        complete_alarm(slot.alarms, alarm)

    try:
        await slot.turn(fire, may_group=may_group)
    except NotOwner:
        # Another node owns the actor now and fires its alarms (they moved with its state):
        # this node's index entry is stale.
        slot.registry.scheduler.forget([(slot.actor_type, slot.key, name)])
        return None
    except Exception as exc:
        if not fired:
            if force:
                raise
            _could_not_fire(slot, slot.registry.scheduler, [name], exc, first=True)
            return exc
        stats.alarm_failures_total += 1
        log.exception(
            "alarm %r of %s/%s failed (attempt %d)",
            name,
            slot.actor_type,
            slot.key,
            fired[0].attempt + 1,
            extra={"actor_type": slot.actor_type, "key": slot.key, "alarm": name},
        )

        async def record_failure(actor: Actor) -> None:
            state = record_alarm_failure(slot.alarms, fired[0], slot.now())
            if state is not None and state.quarantined:
                stats.alarms_quarantined_total += 1
                log.error(
                    "alarm %r of %s/%s quarantined after %d attempts",
                    name,
                    slot.actor_type,
                    slot.key,
                    state.attempt,
                    extra={"actor_type": slot.actor_type, "key": slot.key, "alarm": name},
                )

        await slot.turn(record_failure)
    return None


def _could_not_fire(
    slot: ActorSlot,
    scheduler: AlarmScheduler,
    names: Sequence[str],
    exc: Exception,
    *,
    first: bool,
) -> None:
    """The alarms' turn failed before their handler ran (on_start or restore raised, the
    file did not open): retry with backoff, then quarantine, like a failing alarm (G5).

    Never re-queued at the same instant: that was a busy loop and a log storm. The
    traceback is logged at the first failure (``first``: inside the ``except`` of the
    attempt), a line at each retry, an error once.
    """
    for name in names:
        backoff = scheduler.retry_later((slot.actor_type, slot.key, name))
        _report(slot, name, backoff, exc, first=first)


def _report(slot: ActorSlot, name: str, backoff: Backoff, exc: Exception, *, first: bool) -> None:
    stats = slot.registry.stats
    stats.alarm_failures_total += 1
    alarm = f"alarm {name!r} of {slot.actor_type}/{slot.key}"
    fields = {"actor_type": slot.actor_type, "key": slot.key, "alarm": name}
    if backoff.due is None:
        stats.alarms_quarantined_total += 1
        log.error(
            "%s quarantined: the actor failed to activate %d times (%s: %s)",
            alarm,
            backoff.failures,
            type(exc).__name__,
            exc,
            extra=fields,
        )
    elif backoff.failures == 1 and first:
        log.exception(
            "%s could not fire: the actor failed to activate; retrying", alarm, extra=fields
        )
    else:
        log.warning(
            "%s could not fire (attempt %d, %s: %s); retrying at %.0f",
            alarm,
            backoff.failures,
            type(exc).__name__,
            exc,
            backoff.due,
            extra=fields,
        )
