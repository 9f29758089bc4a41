"""Attachments: where a registered device meets a network stack.

* :class:`~netdrv_core.attach.memory.MemoryStack` — in-process, no privileges;
* :class:`~netdrv_core.attach.tap.KernelStack` — the host kernel via TUN/TAP.
"""

from .base import Attachment

__all__ = ["Attachment"]
