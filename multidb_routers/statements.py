"""Which SQL statements only read: the statement guard's classifier.

This is defence in depth for early, clear errors, never the wall: the database enforces
the read-only promise (a read-only SQLite open, a PostgreSQL role without write
privileges). The classifier lexes like the engine that will run the statement: SQLite
has no dollar quotes, no ``E'...'`` strings and no backslash escapes, but brackets and
backquotes quote identifiers; PostgreSQL has dollar quotes, ``E'...'`` strings, and
backslash escapes in plain strings when ``standard_conforming_strings`` is off (so both
readings must agree). Anything that cannot be lexed with certainty is a write.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["is_write_sql"]

_COMMON_TAIL = r"""
    | (?P<word>[^\W\d][\w$]*)
    | (?P<punct>[();=.,])
"""
_POSTGRESQL = (
    r"""
      (?P<skip>--[^\n]*|/\*.*?\*/)
    | (?P<bad>[Uu]&['"])
    | (?P<string>(?<![\w$])[Ee]'(?:[^'\\]|\\.|'')*'|{plain})
    | (?P<skip2>(?<![\w$])\$(?P<tag>(?:[^\W\d]\w*)?)\$.*?\$(?P=tag)\$)
    | (?P<quoted>"(?:[^"]|"")*")
"""
    + _COMMON_TAIL
    + r"""
    | (?P<bad2>['"]|/\*|(?<![\w$])\$(?:[^\W\d]\w*)?\$)
"""
)
_SQLITE = (
    r"""
      (?P<skip>--[^\n]*|/\*.*?\*/)
    | (?P<string>'(?:[^']|'')*')
    | (?P<quoted>"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\])
"""
    + _COMMON_TAIL
    + r"""
    | (?P<bad>['"`\[]|/\*)
"""
)
_FLAGS = re.DOTALL | re.VERBOSE
_LEXERS = {
    "sqlite": (re.compile(_SQLITE, _FLAGS),),
    "postgresql": (
        re.compile(_POSTGRESQL.replace("{plain}", r"'(?:[^']|'')*'"), _FLAGS),
        # standard_conforming_strings = off: a backslash escapes in plain strings too.
        re.compile(_POSTGRESQL.replace("{plain}", r"'(?:[^'\\]|\\.|'')*'"), _FLAGS),
    ),
}
_LEXERS["other"] = _LEXERS["sqlite"] + _LEXERS["postgresql"]

_READ_STARTS = frozenset({"SELECT", "WITH", "VALUES", "SHOW", "TABLE"})
# Found anywhere in a SELECT/WITH statement, these make it a write (a data-modifying
# CTE, SELECT ... INTO, SELECT ... FOR UPDATE).
_WRITE_WORDS = frozenset(
    {"INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "INTO", "CREATE", "DROP", "ALTER", "TRUNCATE"}
)
# Functions that write (sequences, settings, large objects, files, other databases).
# A user-defined volatile function cannot be classified: the database's wall stops it.
_WRITE_FUNCTIONS = frozenset(
    {
        "SETVAL",
        "NEXTVAL",
        "SET_CONFIG",
        "LO_CREATE",
        "LO_CREAT",
        "LO_IMPORT",
        "LO_EXPORT",
        "LO_UNLINK",
        "LO_FROM_BYTEA",
        "LO_PUT",
        "LO_OPEN",
        "LO_TRUNCATE",
        "LO_TRUNCATE64",
        "LOWRITE",
        "PG_FILE_WRITE",
        "DBLINK",
        "DBLINK_EXEC",
        "PG_RELOAD_CONF",
        "PG_SWITCH_WAL",
        "PG_CREATE_RESTORE_POINT",
        "PG_TERMINATE_BACKEND",
        "PG_CANCEL_BACKEND",
        "LOAD_EXTENSION",
        "WRITEFILE",
    }
)
_TRANSACTION_CONTROL = frozenset(
    {"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "START", "ABORT"}
)
# SET statements allowed: settings of the session's presentation and limits, nothing
# about read-only mode, roles, string syntax or anything else.
_SAFE_SETTINGS = frozenset(
    {
        "TIMEZONE",
        "DATESTYLE",
        "INTERVALSTYLE",
        "APPLICATION_NAME",
        "STATEMENT_TIMEOUT",
        "LOCK_TIMEOUT",
        "IDLE_IN_TRANSACTION_SESSION_TIMEOUT",
        "CLIENT_ENCODING",
        "NAMES",
        "CLIENT_MIN_MESSAGES",
        "EXTRA_FLOAT_DIGITS",
        "WORK_MEM",
        "JIT",
        "CONSTRAINTS",
    }
)
_EXPLAIN_OPTIONS = frozenset({"ANALYZE", "ANALYSE", "VERBOSE", "QUERY", "PLAN"})
# PRAGMAs that only change this connection's behaviour, never the database file.
# ``query_only`` is deliberately absent: setting it is how the lock would be lifted.
CONNECTION_PRAGMAS = frozenset(
    {
        "AUTOMATIC_INDEX",
        "BUSY_TIMEOUT",
        "CACHE_SIZE",
        "CASE_SENSITIVE_LIKE",
        "DEFER_FOREIGN_KEYS",
        "FOREIGN_KEYS",
        "LEGACY_ALTER_TABLE",
        "RECURSIVE_TRIGGERS",
        "TEMP_STORE",
    }
)
# PRAGMAs that act even without a value (checkpoint, vacuum, analyze).
ACTION_PRAGMAS = frozenset({"OPTIMIZE", "WAL_CHECKPOINT", "INCREMENTAL_VACUUM"})
# PRAGMAs whose parenthesised argument names what to read, not a value to set.
READ_PRAGMAS_WITH_ARGUMENT = frozenset(
    {
        "FOREIGN_KEY_CHECK",
        "FOREIGN_KEY_LIST",
        "INDEX_INFO",
        "INDEX_LIST",
        "INDEX_XINFO",
        "INTEGRITY_CHECK",
        "QUICK_CHECK",
        "TABLE_INFO",
        "TABLE_LIST",
        "TABLE_XINFO",
    }
)


def _statements(sql: str, lexer: re.Pattern[str]) -> list[list[str]] | None:
    """The statements of ``sql`` as tokens; ``None`` if it cannot be lexed with certainty.

    Words are upper-cased; a quoted identifier is ``"`` and its upper-cased name (so it
    never reads as a keyword, yet names a PRAGMA or setting); a string literal is ``'``.
    """
    statements: list[list[str]] = [[]]
    for match in lexer.finditer(sql):
        kind = match.lastgroup
        if kind == "word":
            statements[-1].append(match.group().upper())
        elif kind == "punct":
            if match.group() == ";":
                statements.append([])
            else:
                statements[-1].append(match.group())
        elif kind == "quoted":
            text = match.group()
            statements[-1].append('"' + text[1:-1].replace(text[0] * 2, text[0]).upper())
        elif kind == "string":
            statements[-1].append("'")
        elif kind in ("bad", "bad2"):
            return None  # an unterminated literal or comment, or an escaped name
    return [statement for statement in statements if statement]


def _name(token: str) -> str:
    return token[1:] if token.startswith('"') else token


def _calls_write_function(tokens: Sequence[str]) -> bool:
    for index in range(len(tokens) - 1):
        if tokens[index + 1] == "(" and _name(tokens[index]) in _WRITE_FUNCTIONS:
            return True
    return False


def _is_read_pragma(tokens: Sequence[str]) -> bool:
    rest = list(tokens[1:])
    if len(rest) >= 3 and rest[1] == ".":  # PRAGMA schema.name
        rest = rest[2:]
    if not rest:
        return False  # no pragma named: incomplete, so not certainly a read
    name, value = _name(rest[0]), rest[1:]
    if not value:
        return name not in ACTION_PRAGMAS
    if name in CONNECTION_PRAGMAS:
        return True
    return value[0] == "(" and name in READ_PRAGMAS_WITH_ARGUMENT


def _is_safe_set(tokens: Sequence[str]) -> bool:
    rest = list(tokens[1:])
    if rest and rest[0] in ("SESSION", "LOCAL"):
        rest = rest[1:]
    if not rest:
        return False
    if rest[0] == "TIME" and rest[1:2] == ["ZONE"]:
        return True
    if rest[0] == "TRANSACTION":
        return "WRITE" not in rest and "SNAPSHOT" not in rest
    return _name(rest[0]) in _SAFE_SETTINGS and "." not in rest[:2]


def _locks_rows(tokens: Sequence[str]) -> bool:
    """``FOR SHARE`` / ``FOR KEY SHARE`` (``FOR [NO KEY] UPDATE`` has a write word already)."""
    for index, token in enumerate(tokens[:-1]):
        if token == "FOR" and (
            tokens[index + 1] == "SHARE" or tuple(tokens[index + 1 : index + 3]) == ("KEY", "SHARE")
        ):
            return True
    return False


def _is_read_statement(tokens: Sequence[str]) -> bool:
    start = 0
    while start < len(tokens) and tokens[start] == "(":
        start += 1
    tokens = tokens[start:]
    if not tokens:
        return False  # nothing after "(" or EXPLAIN: incomplete, so not certainly a read
    first = tokens[0]
    if first in _READ_STARTS:
        return _WRITE_WORDS.isdisjoint(tokens) and not _locks_rows(tokens)
    if first == "EXPLAIN":
        rest = list(tokens[1:])
        if rest and rest[0] == "(":
            rest = rest[rest.index(")") + 1 :] if ")" in rest else []
        while rest and rest[0] in _EXPLAIN_OPTIONS:
            rest = rest[1:]
        return _is_read_statement(rest)
    if first in _TRANSACTION_CONTROL:
        return "WRITE" not in tokens
    if first == "SET":
        return _is_safe_set(tokens)
    if first == "PRAGMA":
        return _is_read_pragma(tokens)
    return False


_CACHED_LENGTH = 4096  # longer statements are classified afresh, not kept in memory


def is_write_sql(sql: str, dialect: str) -> bool:
    """True unless every reading of ``sql`` in ``dialect`` is certainly read-only.

    ``dialect`` is ``"sqlite"``, ``"postgresql"`` or ``"other"`` (every lexer must agree).
    Cached: the ORM sends the same statement text over and over with other parameters.
    """
    if len(sql) > _CACHED_LENGTH:
        return _classify(sql, dialect)
    return _cached_classify(sql, dialect)


def _classify(sql: str, dialect: str) -> bool:
    for lexer in _LEXERS.get(dialect, _LEXERS["other"]):
        statements = _statements(sql, lexer)
        if statements is None:
            return True
        for statement in statements:
            if _calls_write_function(statement) or not _is_read_statement(statement):
                return True
    return False


_cached_classify = lru_cache(maxsize=4096)(_classify)
