"""Which stdio MCPs may start a process on the platform's host.

A stdio MCP runs ``command`` with ``args`` and ``env`` on this host, as the platform's user: it is
off unless the operator sets ``PLATI_ALLOW_STDIO``, and ``PLATI_STDIO_COMMANDS`` can narrow it to
an allowlist of commands. The rule is enforced where processes start (the stdio connector asks
:meth:`ProcessPolicy.check` before every spawn, whatever is stored), and when a registration or an
update asks for it, so a refusal is a clear 403 before anything is saved.

With an allowlist, ``env`` may not set the variables that change which code a command runs
(``PATH``, ``LD_PRELOAD``, ``PYTHONPATH``, ``NODE_OPTIONS`` ...): otherwise an allowed
``python`` or ``node`` would run whatever the variables point at. Arguments are the workspace's:
an allowlisted interpreter or package runner (``npx``, ``uvx``) can run any code it is given,
so list the servers' own commands rather than those.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Mapping

from ..errors import ProcessNotAllowed

ALLOW_SETTING = "PLATI_ALLOW_STDIO"
COMMANDS_SETTING = "PLATI_STDIO_COMMANDS"

_CODE_LOADING_ENV = re.compile(
    r"^(PATH|LD_.*|DYLD_.*|PYTHON.*|NODE_OPTIONS|NODE_PATH|PERL5OPT|PERL5LIB|PERLLIB|RUBYOPT|RUBYLIB|"
    r"BASH_ENV|ENV|SHELLOPTS|BASHOPTS|PS4|JAVA_TOOL_OPTIONS|_JAVA_OPTIONS|GCONV_PATH|HOSTALIASES)$",
    re.IGNORECASE,
)


class ProcessPolicy:
    """The operator's rule for stdio MCPs.

    Args:
        allow: ``PLATI_ALLOW_STDIO``: stdio MCPs may run at all.
        commands: ``PLATI_STDIO_COMMANDS``: when not empty, the only commands that may run. An
            entry matches a command written the same way, or one that resolves (on ``PATH``) to the
            same file.
    """

    def __init__(self, *, allow: bool, commands: Iterable[str] = ()) -> None:
        self.allow = allow
        self.commands = tuple(command for command in commands if command)
        self._resolved = {_which(command) for command in self.commands} - {None}

    def check(self, command: str | None, env: Mapping[str, str] | None = None) -> None:
        """Refuse to run ``command`` with ``env`` unless the operator allows it.

        Raises:
            ProcessNotAllowed: ``stdio_disabled`` when stdio is off, ``command_not_allowed`` when
                the command is not on the allowlist or ``env`` sets a code-loading variable.
        """
        if not self.allow:
            raise ProcessNotAllowed(
                "stdio MCPs run a command on the Plati host; the operator must enable them with "
                f"{ALLOW_SETTING}=1.",
                details={"setting": ALLOW_SETTING},
            )
        if not self.commands:
            return
        if not command or not self._listed(command):
            raise ProcessNotAllowed(
                f"The command {command!r} is not one the operator allows for stdio MCPs "
                f"({COMMANDS_SETTING}: {', '.join(self.commands)}).",
                code="command_not_allowed",
                details={"setting": COMMANDS_SETTING, "field": "command"},
            )
        refused = sorted(name for name in (env or {}) if _CODE_LOADING_ENV.match(name))
        if refused:
            raise ProcessNotAllowed(
                f"env may not set {', '.join(refused)}: with {COMMANDS_SETTING} set, variables that change "
                "which code a command runs are refused.",
                code="command_not_allowed",
                details={"setting": COMMANDS_SETTING, "field": "env"},
            )

    def _listed(self, command: str) -> bool:
        if command in self.commands:
            return True
        resolved = _which(command)
        return resolved is not None and resolved in self._resolved


def _which(command: str) -> str | None:
    found = shutil.which(command)
    return os.path.realpath(found) if found else None


__all__ = ["ALLOW_SETTING", "COMMANDS_SETTING", "ProcessPolicy"]
