"""Whole conversations from story fragments joined at their checkpoints, as Rasa does.

A fragment without start checkpoints opens a conversation. One that ends in checkpoint
``c`` goes on with every fragment that starts with ``c``; a conversation ends where its
last fragment has no continuation. A fragment is used at most once per conversation (so a
loop of checkpoints ends), and the number of conversations is bounded: beyond
``MAX_CONVERSATIONS`` the rest is left out and ``StoryGraph.truncated`` says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from brain.dialogue.stories import StoryFragment, StoryStep

__all__ = ["MAX_CONVERSATIONS", "StoryConversation", "StoryGraph", "build_story_graph"]

MAX_CONVERSATIONS = 2000


@dataclass(frozen=True, slots=True)
class StoryConversation:
    """The steps of one stitched conversation and the story names it went through."""

    steps: tuple[StoryStep, ...]
    stories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoryGraph:
    """The conversations, and the checkpoints that connect nothing (for validation)."""

    conversations: tuple[StoryConversation, ...]
    truncated: bool = False
    never_reached: tuple[tuple[str, StoryFragment], ...] = ()  # a start nobody ends in
    leads_nowhere: tuple[tuple[str, StoryFragment], ...] = ()  # an end nobody starts with


def build_story_graph(fragments: Sequence[StoryFragment]) -> StoryGraph:
    """Stitch ``fragments`` into conversations (see the module docstring)."""
    continuing: dict[str, list[int]] = {}
    for index, fragment in enumerate(fragments):
        for name in fragment.starts:
            continuing.setdefault(name, []).append(index)
    ended = {name for fragment in fragments for name in fragment.ends}
    found: list[StoryConversation] = []
    truncated = False
    # Depth first over (fragments used, steps so far); each entry extends a conversation.
    pending: list[tuple[tuple[int, ...], tuple[StoryStep, ...]]] = []
    for index in reversed(range(len(fragments))):
        if not fragments[index].starts:
            pending.append(((index,), fragments[index].steps))
    visits = 0
    while pending:
        visits += 1
        if len(found) >= MAX_CONVERSATIONS or visits > 20 * MAX_CONVERSATIONS:
            truncated = True
            break
        used, steps = pending.pop()
        last = fragments[used[-1]]
        nexts = list(dict.fromkeys(i for name in last.ends for i in continuing.get(name, ())
                                   if i not in used))
        if not nexts:
            found.append(StoryConversation(steps, tuple(fragments[i].name for i in used)))
            continue
        pending.extend(((*used, i), steps + fragments[i].steps) for i in reversed(nexts))
    return StoryGraph(
        tuple(found), truncated,
        tuple((n, f) for f in fragments for n in f.starts if n not in ended),
        tuple((n, f) for f in fragments for n in f.ends if n not in continuing))
