"""Shared test configuration: the netdrv pytest plugin is loaded through its pytest11 entry point."""
