"""The project's own model: the login session (mychannels/runtime/login_session.py)."""

from mychannels.runtime.login_session import LoginSession

__all__ = ["LoginSession"]
