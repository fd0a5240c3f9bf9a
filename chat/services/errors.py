"""The one error a write refuses with: `code` is the contract's error code."""


class ServiceError(Exception):
    """A write refused for a reason the caller can show: `code` is the contract's error code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class ConflictError(ServiceError):
    """The message changed after the version the writer saw: `current` is it as it is now,
    so that the writer can show the newer text and try again."""

    def __init__(self, current: dict) -> None:
        super().__init__("conflict", "the message changed since that version")
        self.current = current
