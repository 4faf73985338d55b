"""The policy engine's error types: every problem names the file, rule and field it is about.

They subclass ``ValueError`` so callers that map bad input to a 4xx / exit 2 by
type (the CLI's ``run_command``) need no knowledge of this package.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Messages echo user-written conditions; a pathological one must not flood a log line.
_MAX_MESSAGE_CHARS = 600


def clip_message(message: str) -> str:
    """Shorten a message to a readable length, keeping its start."""
    message = message.strip()
    if len(message) <= _MAX_MESSAGE_CHARS:
        return message
    return message[: _MAX_MESSAGE_CHARS - 15] + " … (truncated)"


@dataclass(frozen=True)
class PolicyIssue:
    """One validation problem with its location (empty strings where not applicable)."""

    file: str
    rule: str
    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        where = ", ".join(
            part
            for part in (
                self.file,
                f"rule {self.rule}" if self.rule else "",
                f"field {self.field}" if self.field else "",
            )
            if part
        )
        return f"{where}: {self.message}" if where else self.message


class PolicyError(ValueError):
    """A policy set that cannot be loaded: carries every issue found, not just the first."""

    def __init__(self, issues: list[PolicyIssue]) -> None:
        self.issues = issues
        head = "; ".join(str(issue) for issue in issues[:5])
        more = f" (and {len(issues) - 5} more)" if len(issues) > 5 else ""
        super().__init__(f"invalid policy: {head}{more}")


class SignalError(ValueError):
    """A signal view or context that does not match the declared schema."""
