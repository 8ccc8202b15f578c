"""What a check returns: :class:`Result`, and how it shows itself.

``check(...)`` *prints* its one-line result itself (so it is seen also when the
call is not the last line of a notebook cell, or runs in a script), and returns
the Result for code that wants to branch on it (``if check(...): ...``).

Why the line never appears twice in a notebook: IPython shows a cell's last
value by calling its ``_ipython_display_`` method when it has one, instead of
printing its repr. A Result's ``_ipython_display_`` shows nothing, because
``check`` has already printed the line. Outside IPython (a plain ``python``
prompt) the repr is a short ``Result(exercise=..., status=...)``, not the line
again.
"""
from __future__ import annotations

from dataclasses import dataclass, field

PASS, FAIL, NOT_ATTEMPTED = "pass", "fail", "not attempted"


@dataclass
class Result:
    """The outcome of one check. ``bool(result)`` is True only for a pass.

    exercise     the exercise's name, e.g. ``"softmax_backward"``
    status       ``"pass"``, ``"fail"`` or ``"not attempted"``
    message      one line: what was checked (pass) or the mistake and its fix (fail)
    explanation  a few lines of worked explanation, shown only on a pass
    details      for programs: ``details["mistake"]`` names the catalogued mistake found
    """

    exercise: str
    status: str
    message: str
    details: dict = field(default_factory=dict)
    explanation: str = ""

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        """The one line that ``check`` prints: ``[PASS] softmax: ...``."""
        return f"[{self.status.upper()}] {self.exercise}: {self.message}"

    def __repr__(self) -> str:
        return f"Result(exercise={self.exercise!r}, status={self.status!r})"

    def report(self) -> str:
        """The printed text: the line, then (on a pass only) the indented explanation."""
        if self.passed and self.explanation:
            explanation = "\n".join("    " + line for line in self.explanation.strip().splitlines())
            return f"{self}\n{explanation}"
        return str(self)

    def _ipython_display_(self) -> None:
        """Show nothing: ``check`` already printed the line (see the module docstring)."""
