"""ds01: a toolkit for running a shared multi-user GPU server on Docker, compatible with AIME MLC."""

__version__ = "0.1.0"
