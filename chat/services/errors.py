"""The one error a write refuses with: `code` is the contract's error code."""


class ServiceError(Exception):
    """A write refused for a reason the caller can show: `code` is the contract's error code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
