"""The seam between the agent and whatever shows the customer its prompts.

Two implementations: a Tk window (:mod:`tasuke.agent.ui_tk`) and the terminal
(:mod:`tasuke.agent.ui_terminal`). Both show the same texts, defined here once,
in Japanese and English. A UI reports what the customer did as consent
:class:`~tasuke.agent.consent.LocalEvent` objects through the ``emit`` callback,
which is safe to call from any thread.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from tasuke.agent.consent import LocalEvent

__all__ = [
    "ALLOW_CONTROL",
    "ALLOW_VIEW",
    "CODE_NOTE",
    "DENY",
    "END_SESSION",
    "PROMPT_TITLE",
    "SESSION_TITLE",
    "WARNING",
    "ConsentUI",
    "Emit",
    "PromptInfo",
    "SessionInfo",
    "session_text",
]

Emit = Callable[[LocalEvent], None]

PROMPT_TITLE = "Tasuke — 接続の許可 / Allow connection"
SESSION_TITLE = "Tasuke — サポート中 / Support session"
WARNING = (
    "ご自身で連絡した相手以外には許可しないでください。\nOnly allow people you contacted yourself."
)
ASKS = (
    "次の担当者があなたの画面への接続を求めています。\nThis person asks to connect to your screen:"
)
ALLOW_CONTROL = "操作を許可 / Allow control"
ALLOW_VIEW = "表示のみ許可 / Allow view only"
DENY = "拒否 / Deny"
END_SESSION = "セッションを終了 / End session"
CODE_LABEL = "確認コード / Verification code"
CODE_NOTE = (
    "サポート担当者が読み上げるコードがこのコードと同じ場合のみ許可してください。\n"
    "Allow only if the person helping you reads you this same code."
)
"""Shown right under the code: the code protects the customer only if they compare it."""
OPERATOR_LABEL = "担当者 / Operator"
ORGANISATION_LABEL = "組織 / Organisation"
TIMEOUT_NOTE = "2分以内に応答がない場合は拒否されます。 / No answer in 2 minutes means Deny."


@dataclass(frozen=True, slots=True)
class PromptInfo:
    """What the consent prompt shows; every string is already cleaned for display."""

    operator: str
    organisation: str
    sas: str
    view_only: bool = False
    """True when the grant does not ask for control; Allow control is then not offered."""


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What the session bar shows."""

    operator: str
    scope: Literal["control", "view"]


def session_text(info: SessionInfo) -> str:
    """The persistent bar's text: who is controlling or viewing the screen."""
    if info.scope == "control":
        return f"{info.operator} が操作しています / Being controlled by {info.operator}"
    return f"{info.operator} が画面を見ています / Being viewed by {info.operator}"


class ConsentUI(Protocol):
    """Shows prompts and the session bar; reports the customer's choices.

    Every method is called from the asyncio thread and must return quickly.
    """

    def start(self, emit: Emit) -> None:
        """Get ready; ``emit`` receives the customer's choices from any thread."""
        ...

    def ask_consent(self, info: PromptInfo) -> None:
        """Show the consent prompt. No choice may be preselected or the default."""
        ...

    def show_session(self, info: SessionInfo) -> None:
        """Replace the prompt with the persistent session bar and its End session."""
        ...

    def notify(self, text: str) -> None:
        """Tell the customer something (waiting, ended, an error)."""
        ...

    def close(self) -> None:
        """Remove every window or prompt; the session is over."""
        ...
