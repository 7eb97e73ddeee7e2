"""The actor lifecycle as one explicit state machine.

A slot exists for every (type, key) the node has seen recently; its state says whether an
instance of the actor is in memory. An illegal transition is a bug in roost and raises.
"""

from __future__ import annotations

import enum


class ActorState(enum.Enum):
    """Where one actor is in its life on this node."""

    STOPPED = "stopped"  # no instance in memory (the initial and the final state)
    ACTIVATING = "activating"  # the instance is being built; on_start is running
    ACTIVE = "active"  # the instance is live and handles turns
    HIBERNATED = "hibernated"  # no instance, but its connections stay open
    STOPPING = "stopping"  # on_stop is running; afterwards the storage closes


_ALLOWED: dict[ActorState, frozenset[ActorState]] = {
    ActorState.STOPPED: frozenset({ActorState.ACTIVATING}),
    # on_start failed -> STOPPED; the next event tries again.
    ActorState.ACTIVATING: frozenset({ActorState.ACTIVE, ActorState.STOPPED}),
    # -> STOPPED directly is a restart after a failed commit: no on_stop for a broken turn.
    ActorState.ACTIVE: frozenset({ActorState.STOPPING, ActorState.STOPPED}),
    # Hibernated until the next event, or stopped once its last connection is gone.
    ActorState.HIBERNATED: frozenset({ActorState.ACTIVATING, ActorState.STOPPED}),
    # After on_stop: hibernated if connections remain open, otherwise stopped.
    ActorState.STOPPING: frozenset({ActorState.STOPPED, ActorState.HIBERNATED}),
}


class IllegalTransition(RuntimeError):
    """A lifecycle transition the state machine does not allow: always a bug in roost."""


def check_transition(old: ActorState, new: ActorState) -> ActorState:
    """Return ``new`` if ``old -> new`` is allowed.

    Raises:
        IllegalTransition: it is not.
    """
    if new not in _ALLOWED[old]:
        raise IllegalTransition(f"actor lifecycle: {old.value} -> {new.value} is not allowed")
    return new
