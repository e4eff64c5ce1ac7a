"""Redaction for debug bundles: user names in paths, secret-looking settings and token-shaped strings.

A `Redactor` is used for one bundle. It remembers every secret value it has removed from structured data
(environment, config) so the same value is also scrubbed wherever it shows up in free text (logs, tool
output), and it counts what it removed per file for the manifest. It never records a secret itself.
"""

from __future__ import annotations

import getpass
import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REDACTED = "<redacted>"
USER = "<user>"

# Words that make a setting's name look secret. Matched against the name's parts (split at _ - . and
# camelCase), so KEYBOARD is not a key but AWS_SECRET_ACCESS_KEY and apiKey are.
_SECRET_PARTS = {
    "token", "tokens", "key", "keys", "apikey", "secret", "secrets", "password", "passwd", "passphrase",
    "auth", "authorization", "credential", "credentials", "cookie", "cookies", "session", "sessionid",
    "private", "signature", "bearer", "jwt", "pat",
}
# Substrings that are secret-looking even inside one word (HFTOKEN, MYPASSWORD, xauthority).
_SECRET_SUBSTRINGS = ("token", "secret", "password", "passwd", "apikey", "credential", "cookie", "auth")

_NAME_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")

# Every pattern below is linear in the text, so one long input (a 25,000-character name echoed in the
# log) cannot stall a bundle. The rule that keeps them linear: a pattern that opens with a run of
# characters starts only at the beginning of such a run (a lookbehind), so the engine never rescans a
# run from each of its positions, and whatever follows the run is tried once per run, not once per
# position. tests/debug/test_redaction.py holds them to a time bound on 200,000-character runs.

# Token shapes of well-known services, matched anywhere in text. A token shape may keep a `lead`: text
# before the token that the match had to cover and that is not part of the secret.
_TOKEN_SHAPES = [
    ("huggingface token", re.compile(r"\bhf_[A-Za-z0-9]{16,}")),
    ("api key (sk-)", re.compile(r"\bsk-[A-Za-z0-9_-]{16,}")),
    ("github token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})")),
    ("gitlab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{16,}")),
    ("slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("aws access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    # Three base64url segments from the first `eyJ` of a run of segment characters. The lookahead is
    # atomic and the back reference takes what it found, so a run whose first segment is not followed
    # by a dot is given up at once instead of being tried again from every later `eyJ` in it
    # (`eyJ-eyJ-eyJ-...`). A later `eyJ` in the same run would only shorten the same first segment.
    ("jwt", re.compile(r"(?<![A-Za-z0-9_-])(?=(?P<head>(?P<lead>[A-Za-z0-9_-]*?)\beyJ[A-Za-z0-9_-]{8,}))"
                       r"(?P=head)\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("bearer token", re.compile(r"(?i)(?<=\bbearer )[A-Za-z0-9._~+/=-]{8,}")),
]
# `name=value`, `name: value`, `"name": "value"` where the name looks secret: the value goes.
# The name is a whole run of name characters holding a secret word; the word may be followed by a plural
# s and a suffix after a separator (access_token_v2), not by more letters, so `tokenizers==0.23` and
# `author: me` stay as they are. The lookahead checks the word once per run; the name then takes the
# whole run (a name cannot end inside a run: the separator never starts with a name character).
_NAME_CHARS = "[A-Za-z0-9_.-]"
_ASSIGNMENT = re.compile(
    rf"(?i)(?<!{_NAME_CHARS})"
    rf"(?={_NAME_CHARS}*?(?:token|secret|passw(?:or)?d|api[_-]?key|access[_-]?key|auth|credential|cookie"
    rf"|session)s?(?:[_.-]|(?!{_NAME_CHARS})))"
    rf"(?P<name>{_NAME_CHARS}+)(?P<sep>[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>[^\s\"',;&}\])=][^\s\"',;&}\])]{3,})"
)
# Credentials inside URLs: scheme://user:password@host. The match starts where a run of scheme
# characters starts; the digits and signs before the run's first letter are kept (`lead`), as a scheme
# starts with a letter.
_URL_CREDENTIALS = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<lead>[0-9+.-]*)(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"
)

# Home folders of any user, on Linux, macOS and Windows (either slash).
_HOME_PATTERNS = [
    re.compile(r"(?P<prefix>/home/)(?P<name>[^/\s\"':]+)"),
    re.compile(r"(?P<prefix>/Users/)(?P<name>[^/\s\"':]+)"),
    re.compile(r"(?P<prefix>[A-Za-z]:[\\/]+Users[\\/]+)(?P<name>[^\\/\s\"':]+)", re.IGNORECASE),
]
_NOT_USERS = {"shared", "public", "default", "all users", USER}
# Login names too common as words to scrub from free text (their home paths are still replaced).
_GENERIC_USERS = {"root", "user", "admin", "administrator", "runner", "ubuntu", "nobody"}

# Secret values shorter than this are not scrubbed from free text: "1" or "yes" would wreck the logs.
_MIN_SCRUB_LENGTH = 6


def looks_secret(name: str) -> bool:
    """Whether a setting or environment variable name suggests its value is a secret."""
    parts = {part.lower() for part in _NAME_SPLIT.split(name) if part}
    if parts & _SECRET_PARTS:
        return True
    # Words that merely contain a secret word are not secrets (a tokenizer path, an author's name).
    lowered = name.lower().replace("tokeniz", "").replace("author", "")
    return any(word in lowered for word in _SECRET_SUBSTRINGS)


class Redactor:
    """Removes secrets and user names from the data and text of one bundle, and counts what it removed."""

    def __init__(self, home: Path | None = None, user: str | None = None) -> None:
        self.home = str(home if home is not None else Path.home())
        self.user = user if user is not None else _current_user()
        self._secret_values: set[str] = set()
        # (file, what) -> how many times; `what` never contains a secret value.
        self.counts: Counter[tuple[str, str]] = Counter()

    # -- structured data -------------------------------------------------------------------------
    def settings(self, data: Mapping[str, Any], where: str, path: str = "") -> dict[str, Any]:
        """A copy of user settings (config, environment) with secret-named values replaced.

        The other values keep their content, minus user names and token-shaped strings.
        """
        result: dict[str, Any] = {}
        for key, value in data.items():
            key_text = str(key)
            dotted = f"{path}.{key_text}" if path else key_text
            if looks_secret(key_text) and value not in (None, "", [], {}):
                self._remember(value)
                self.counts[(where, f"value of {dotted}")] += 1
                result[key_text] = REDACTED
            elif isinstance(value, Mapping):
                result[key_text] = self.settings(value, where, dotted)
            else:
                result[key_text] = self.value(value, where)
        return result

    def value(self, value: Any, where: str) -> Any:
        """A copy of sdkit's own data (no setting names to judge) with every string passed through `text`."""
        if isinstance(value, Mapping):
            return {str(key): self.value(item, where) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(item, where) for item in value]
        if isinstance(value, str):
            return self.text(value, where)
        return value

    # -- free text ---------------------------------------------------------------------------------
    def text(self, text: str, where: str) -> str:
        """`text` without known secret values, token-shaped strings, URL credentials and user names."""
        for secret in sorted(self._secret_values, key=len, reverse=True):
            if secret in text:
                self.counts[(where, "known secret value")] += text.count(secret)
                text = text.replace(secret, REDACTED)
        for what, pattern in _TOKEN_SHAPES:
            text, found = pattern.subn(_keep_lead, text)
            if found:
                self.counts[(where, what)] += found
        text = _ASSIGNMENT.sub(lambda match: self._assignment(match, where), text)
        text, found = _URL_CREDENTIALS.subn(lambda match: f"{match['lead']}{match['scheme']}{REDACTED}@", text)
        if found:
            self.counts[(where, "credentials in a URL")] += found
        return self.paths(text, where)

    def paths(self, text: str, where: str) -> str:
        """Replace the home folder with ~ and other users' names in home paths with <user>."""
        if len(self.home) > 1:
            home = re.compile(rf"{re.escape(self.home)}(?![A-Za-z0-9_.-])")
            text, found = home.subn("~", text)
            if found:
                self.counts[(where, "home folder")] += found
        for pattern in _HOME_PATTERNS:
            text = pattern.sub(lambda match: self._home_path(match, where), text)
        if self.user and len(self.user) >= 3 and self.user.lower() not in _GENERIC_USERS:
            # The login name outside a home path (e.g. in a prompt or a hostname-like string).
            user_word = re.compile(rf"(?<![A-Za-z0-9]){re.escape(self.user)}(?![A-Za-z0-9])")
            text, found = user_word.subn(USER, text)
            if found:
                self.counts[(where, "user name")] += found
        return text

    def summary(self) -> list[dict[str, Any]]:
        """What was redacted, per file, for the manifest (names and counts, never values)."""
        return [{"file": where, "what": what, "count": count}
                for (where, what), count in sorted(self.counts.items())]

    # -- helpers -------------------------------------------------------------------------------------
    def _remember(self, value: Any) -> None:
        if isinstance(value, Mapping):
            for item in value.values():
                self._remember(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                self._remember(item)
        elif value is not None:
            text = str(value)
            if len(text) >= _MIN_SCRUB_LENGTH:
                self._secret_values.add(text)

    def _assignment(self, match: re.Match[str], where: str) -> str:
        if match["value"] == REDACTED or match["value"].startswith("<redacted"):
            return match.group(0)
        self.counts[(where, f"value after {match['name']}")] += 1
        return f"{match['name']}{match['sep']}{REDACTED}"

    def _home_path(self, match: re.Match[str], where: str) -> str:
        if match["name"].lower() in _NOT_USERS:
            return match.group(0)
        self.counts[(where, "user name in a path")] += 1
        return f"{match['prefix']}{USER}"


def _keep_lead(match: re.Match[str]) -> str:
    """The replacement of a token shape: the secret goes, text the match covered before it stays."""
    lead = match.groupdict().get("lead")
    return f"{lead or ''}{REDACTED}"


def _current_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):  # no passwd entry (containers) or no pwd module
        return os.environ.get("USER") or os.environ.get("USERNAME")
