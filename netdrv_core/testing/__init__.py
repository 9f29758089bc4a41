"""Testing support for driver authors: namespaces, hosts, and the conformance kit.

The pytest plugin (:mod:`netdrv_core.testing.plugin`) is registered through
the ``pytest11`` entry point, so its fixtures are available in any project
that has netdrv installed.
"""

from .netns import NetNamespace, netns_available

__all__ = ["NetNamespace", "netns_available"]
