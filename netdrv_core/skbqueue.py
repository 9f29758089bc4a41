"""Lists of skbs: :class:`SkBuffHead`, Linux's ``struct sk_buff_head`` and its functions.

Drivers keep skbs waiting for the hardware, or for a completion, on these lists
(usbnet's ``rxq``/``txq``/``done``, a TX ring's pending frames).  The functions
have Linux's names and meaning (``include/linux/skbuff.h``)::

    head = SkBuffHead()                  # skb_queue_head_init(&head)
    skb_queue_tail(head, skb)
    while (skb := skb_dequeue(head)) is not None:
        ...
    for skb in head:                     # skb_queue_walk / skb_queue_walk_safe
        ...
    skb_queue_purge(head)                # kfree_skb() of each

No locks: every driver callback runs on the host's one loop thread, so the
lock-free ``__skb_*`` variants are the same functions.  Python mangles a
``__name`` used inside a class body (``__skb_unlink`` in a method becomes
``_Class__skb_unlink``): there, use the plain name (``skb_unlink``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from .skbuff import SkbError, SkBuff, kfree_skb

__all__ = [
    "SkBuffHead",
    "__skb_dequeue",
    "__skb_dequeue_tail",
    "__skb_queue_head",
    "__skb_queue_purge",
    "__skb_queue_tail",
    "__skb_unlink",
    "skb_dequeue",
    "skb_dequeue_tail",
    "skb_peek",
    "skb_peek_tail",
    "skb_queue_empty",
    "skb_queue_head",
    "skb_queue_head_init",
    "skb_queue_len",
    "skb_queue_purge",
    "skb_queue_splice_tail_init",
    "skb_queue_tail",
    "skb_unlink",
]


class SkBuffHead:
    """``struct sk_buff_head``: an ordered list of skbs.

    ``len(head)`` (and :attr:`qlen`) is the number of skbs, ``bool(head)`` is
    false when it is empty, and ``for skb in head`` walks it from the head; the
    walk is over a snapshot, so its body may unlink the skb it is at, as
    ``skb_queue_walk_safe`` allows.  An skb is on one list at a time, as in
    Linux: queueing one that is on a list already (this one or another) raises
    :class:`~netdrv_core.skbuff.SkbError` — Linux links it twice and corrupts both
    lists, which ``CONFIG_DEBUG_LIST`` reports; handing it on while it is on one
    (``netif_rx``, ``napi_gro_receive``, ``dev_queue_xmit``…) raises too.  ``skb.on_list``
    is the list it is on; dequeueing, unlinking, purging or splicing it off keeps that right.
    """

    __slots__ = ("_q",)

    def __init__(self) -> None:
        self._q: deque[SkBuff] = deque()

    @property
    def qlen(self) -> int:
        """The number of skbs on the list (``list->qlen``)."""
        return len(self._q)

    def __len__(self) -> int:
        return len(self._q)

    def __bool__(self) -> bool:
        return bool(self._q)

    def __iter__(self) -> Iterator[SkBuff]:
        return iter(list(self._q))

    def __repr__(self) -> str:
        return f"<SkBuffHead qlen={len(self._q)}>"


def _check_addable(how: str, list_: SkBuffHead, skb: SkBuff) -> None:
    """Refuse to queue a freed skb, or one on a list already (called before linking)."""
    if skb.freed:  # Linux would link freed memory into the list
        raise SkbError(f"{how} of a freed skb (a use after free): {skb!r}")
    on = skb.on_list
    if on is not None:  # Linux: list_add corruption (CONFIG_DEBUG_LIST), both lists broken
        which = "this list" if on is list_ else f"another list ({on!r})"
        raise SkbError(f"{how}: {skb!r} is already on {which}; an skb is on one list at a "
                       f"time: unlink it first (skb_unlink, skb_dequeue) or queue a "
                       f"skb_clone")  # fmt: skip


def skb_queue_head_init(list_: SkBuffHead) -> None:
    """Make ``list_`` empty (``skb_queue_head_init``); skbs it held are forgotten, not freed."""
    q = list_._q
    for skb in q:
        skb.on_list = None
    q.clear()


def skb_queue_tail(list_: SkBuffHead, newsk: SkBuff) -> None:
    """Append ``newsk`` at the tail of ``list_`` (``skb_queue_tail``)."""
    if newsk.freed or newsk.on_list is not None:
        _check_addable("skb_queue_tail", list_, newsk)
    newsk.on_list = list_
    list_._q.append(newsk)


def skb_queue_head(list_: SkBuffHead, newsk: SkBuff) -> None:
    """Put ``newsk`` at the head of ``list_`` (``skb_queue_head``)."""
    if newsk.freed or newsk.on_list is not None:
        _check_addable("skb_queue_head", list_, newsk)
    newsk.on_list = list_
    list_._q.appendleft(newsk)


def skb_dequeue(list_: SkBuffHead) -> SkBuff | None:
    """Remove and return the skb at the head of ``list_``; None when it is empty."""
    q = list_._q
    if not q:
        return None
    skb = q.popleft()
    skb.on_list = None
    return skb


def skb_dequeue_tail(list_: SkBuffHead) -> SkBuff | None:
    """Remove and return the skb at the tail of ``list_``; None when it is empty."""
    q = list_._q
    if not q:
        return None
    skb = q.pop()
    skb.on_list = None
    return skb


def skb_peek(list_: SkBuffHead) -> SkBuff | None:
    """The skb at the head of ``list_``, left on it; None when it is empty."""
    q = list_._q
    return q[0] if q else None


def skb_peek_tail(list_: SkBuffHead) -> SkBuff | None:
    """The skb at the tail of ``list_``, left on it; None when it is empty."""
    q = list_._q
    return q[-1] if q else None


def skb_queue_len(list_: SkBuffHead) -> int:
    """The number of skbs on ``list_`` (``skb_queue_len``)."""
    return len(list_._q)


def skb_queue_empty(list_: SkBuffHead) -> bool:
    """True when ``list_`` holds no skb (``skb_queue_empty``)."""
    return not list_._q


def skb_unlink(skb: SkBuff, list_: SkBuffHead) -> None:
    """Take ``skb`` off ``list_`` wherever it is (``skb_unlink``).

    Linux corrupts the list when ``skb`` is not on it; here that raises
    ``ValueError``.
    """
    try:
        list_._q.remove(skb)
    except ValueError:
        raise ValueError(f"skb_unlink: {skb!r} is not on {list_!r}") from None
    skb.on_list = None


def skb_queue_purge(list_: SkBuffHead) -> None:
    """Free every skb on ``list_`` with ``kfree_skb`` (``skb_queue_purge``); it ends empty.

    An skb freed already (while still on the list) raises ``SkbError``, a double free.
    """
    q = list_._q
    while q:
        skb = q.popleft()
        skb.on_list = None
        kfree_skb(skb)


def skb_queue_splice_tail_init(list_: SkBuffHead, head: SkBuffHead) -> None:
    """Move every skb of ``list_`` to the tail of ``head``, in order; ``list_`` ends empty."""
    if list_ is head:
        raise ValueError(f"skb_queue_splice_tail_init: {head!r} spliced onto itself")
    q = list_._q
    for skb in q:
        skb.on_list = head
    head._q.extend(q)
    q.clear()


# The lock-free variants: the same functions (one loop thread, no locks).
__skb_queue_tail = skb_queue_tail
__skb_queue_head = skb_queue_head
__skb_dequeue = skb_dequeue
__skb_dequeue_tail = skb_dequeue_tail
__skb_unlink = skb_unlink
__skb_queue_purge = skb_queue_purge
