"""What a guard sees: a fact demanded from every server it must see, or a refusal naming the
servers it could not see.

A guard reads a fact to decide that a change is safe: "the device is mounted nowhere", "no
hive holds the volume as Primary". A server whose answer is missing (unreachable, the command
not gathered, failed, printed nothing, cut short, or unreadable) may hold exactly the state the
guard looks for, so it is never read as "fine": `demand` raises Unseen, and the remedy engine
(Remedy.plan) turns that into a refusal naming each server and why it could not be seen.
"""
from __future__ import annotations

from typing import Callable, Iterable

from hivehealth.judge.cluster import drbd_views
from hivehealth.judge.context import cut_short, gave_no_answer
from hivehealth.parsers import ParseError


class Unseen(Exception):
    """A guard could not see its fact on some servers: {server: why}."""

    def __init__(self, what: str, unseen: dict[str, str], refusal: str):
        self.what, self.unseen, self.refusal = what, dict(unseen), refusal
        where = "; ".join(f"{name} ({why})" for name, why in self.unseen.items())
        super().__init__(f"cannot see {what} on {where}: {refusal}")


class Unread(Exception):
    """One server's fact cannot be read; the message says why."""


def section(name: str, parse: Callable[[str], object]) -> Callable:
    """A fact read from one gathered section: its parsed output, whole. Partial answers do not
    count: the line a guard looks for may be the one left out."""
    def read(ctx, server):
        facts = ctx.host(server)
        if facts.unreachable:
            raise Unread(f"unreachable: {facts.unreachable}")
        r = facts.get(name)
        if r is None:
            raise Unread(f"`{name}` was not gathered")
        if not r.ok:
            raise Unread(r.failure())
        if gave_no_answer(r):
            raise Unread(f"`{r.command}` printed nothing")
        short = cut_short(r.stdout)
        if short:
            raise Unread(f"`{r.command}` {short}")
        try:
            return parse(r.stdout)
        except ParseError as e:
            raise Unread(f"cannot read it: {e}") from None
    return read


def drbd(ctx, server):
    """A hive's DRBD resources (drbdsetup's JSON, else drbdadm's text)."""
    views = drbd_views(ctx, server)
    if not isinstance(views, list):
        raise Unread(views)
    return views


def demand(ctx, servers: Iterable, fact: Callable, what: str, refusal: str) -> dict[str, object]:
    """{server name: fact(ctx, server)} for every one of `servers`; Unseen naming each server
    whose fact cannot be read (none is skipped). `what` names the fact ("whether /dev/drbd1
    is mounted"), `refusal` what is therefore not done ("never repair a filesystem that may be
    mounted")."""
    seen, unseen = {}, {}
    for server in servers:
        name = server if isinstance(server, str) else server.name
        try:
            seen[name] = fact(ctx, server)
        except Unread as e:
            unseen[name] = str(e)
    if unseen:
        raise Unseen(what, unseen, refusal)
    return seen
