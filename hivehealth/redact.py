"""Keep secrets out of everything that leaves the process, and server text from acting on the
operator's terminal.

One redaction, applied where site text enters a verdict (evidence, messages, fix logs) and again
by every writer (the test reports pytest, pytest-html, JUnit and the JSON report are made from,
the audit log, recordings, the Prometheus textfile), so a new output made from any of them is
redacted without knowing about it. Values are replaced by `***`; the name that said "this is a
secret" stays, so the text stays readable. Command outputs that are JSON (docker's) are redacted
as JSON, so a recording still parses and replays.

Redaction sees structure, not one string at a time: a JSON key and its value (`{"Authorization":
"Basic ..."}`, `"auth":` with its value on the next line), an option and the next word of an
argv, in text or as a JSON list (`["--password", "X"]`), an environment entry (`MYSQL_PWD=X`),
and the options each client program takes a password with (`mysql -pX`, `ldapsearch -w X`,
`sshpass -p X`, `redis-cli -a X`, `openssl -passin pass:X`, `docker login -p X`).

Caught: NAME=value and NAME: value for secret-like names (quoted values may hold spaces), an
environment entry whose NAME matches *PASS*, *SECRET*, *TOKEN*, *KEY* or ends in PW/PWD,
`--password X` and its kin (`--requirepass`, `--db-password`), `Authorization`, `Cookie` and
`Set-Cookie` headers, `curl -u user:pass`, user:password@ in any URL (also with an empty user,
`redis://:pw@host`), netrc `password X`, `requirepass`/`masterauth`/`rootpw`/`bindpw` lines,
LDIF `userPassword:` (also base64 `::` and folded lines), docker config `"auth"`, swarm join
tokens, PEM private keys and PGP private key blocks (also cut at either end), and the site's
registry password wherever it appears.

Every pass is linear in the text, whatever it holds (tests/unit/test_regex_linear.py): names
and values are found by expressions that never retry from inside a word, and what a value spans
(a quoted string, the rest of a line) is measured by code, not by a repeated group, which would
also take memory in proportion to the text.

visible() is the other half of what leaves the process: control characters a server sent (ESC
sequences, CSI, OSC, C0 and C1 controls, bidirectional overrides) written as `\\x1b`, `\\x9b`,
`\\u202e`, so that no output shows them to a terminal or a browser as anything but text.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

MASK = "***"
KEY_MASK = "<private key redacted>"


# ---------------------------------------------------------------- control characters

def _control_table() -> dict[int, str]:
    table = {c: f"\\x{c:02x}" for c in [*range(0x00, 0x20), *range(0x7f, 0xa0)] if c not in (0x09, 0x0a)}
    # bidirectional overrides and isolates, marks, line/paragraph separators, BOM: they reorder
    # or break what a terminal or a page shows
    for c in [0x061c, 0x200e, 0x200f, *range(0x202a, 0x202f), *range(0x2066, 0x206a), 0x2028, 0x2029, 0xfeff]:
        table[c] = f"\\u{c:04x}"
    return table


_CONTROL = _control_table()


def visible(text):
    """`text` with every control character written out as an escape (`ESC[2J` -> `\\x1b[2J`);
    newlines and tabs stay layout, and a CR before a newline is dropped (a CRLF line end)."""
    if not isinstance(text, str) or not text:
        return text
    return text.replace("\r\n", "\n").translate(_CONTROL)


def for_output(text):
    """What any output shows of site text: redacted, its control characters visible."""
    return visible(redact(text))


# ---------------------------------------------------------------- names that mark a secret

_SECRET_PART = re.compile(r"pass|secret|token", re.I)        # *PASS*, *SECRET*, *TOKEN*
_KEY_PART = re.compile(r"key(?:[_.-]|$)", re.I)              # API_KEY, apikey, key_id; not KeyChecking
# NAME: value names: those that end in a word meaning a secret ("SecretName" does not)
_SECRET_END = re.compile(r"(?:passw(?:or)?d|passphrase|secret|token|auth|credentials?|requirepass|"
                         r"(?:api|access|private|secret|auth|master|encryption)[_-]?key)$", re.I)
_PW_HEADS = ("bind", "root")


def _pw_name(name: str) -> bool:
    """A name ending in PW or PWD as a word of its own: MYSQL_PWD, LDAP_BIND_PW, SMTP_PW,
    olcRootPW, unicodePwd, bindpw; not PWD or OLDPWD (the shell's working directories)."""
    low = name.lower()
    for end in ("pwd", "pw"):
        if low.endswith(end) and len(name) > len(end):
            head = name[:-len(end)]
            return (head[-1] in "_.-" or head.lower().endswith(_PW_HEADS)
                    or (head[-1].islower() and name[-len(end)].isupper()))
    return False


def env_secret(name: str) -> bool:
    """An environment entry's NAME: *PASS*, *SECRET*, *TOKEN*, *KEY*, or ending in PW/PWD."""
    return bool(_SECRET_PART.search(name)) or "key" in name.lower() or _pw_name(name)


def _text_secret(name: str) -> bool:
    """NAME=value in free text: as env_secret, with KEY only as a part of its own, so that
    StrictHostKeyChecking=no and look_for_keys=False stay readable."""
    return bool(_SECRET_PART.search(name) or _KEY_PART.search(name)) or _pw_name(name)


def _colon_secret(name: str) -> bool:
    return bool(_SECRET_END.search(name)) or _pw_name(name)


_HEADER = re.compile(r"(?:proxy-)?authorization|(?:set-)?cookie", re.I)


def secret_key(name: str) -> bool:
    """A JSON or YAML key whose value is a secret: "password", "auth", "identitytoken",
    "Authorization", "Cookie"..."""
    return _colon_secret(name) or bool(_HEADER.fullmatch(name))


_OPTION_SECRET = re.compile(r"password|passwd|passphrase|secret|token|api-?key|requirepass|masterauth", re.I)
_OPTION_NOT_A_VALUE = re.compile(r"-(?:stdin|file|env|path|fd|prompt)$", re.I)


def _option_secret(name: str) -> bool:
    """A long option (without its dashes) that takes a secret: --password, --db-password,
    --requirepass, --registry-token, --pass; not --password-stdin or --token-file."""
    if _OPTION_NOT_A_VALUE.search(name):
        return False
    return bool(_OPTION_SECRET.search(name)) or name.lower() == "pass" or _pw_name(name)


# ---------------------------------------------------------------- where a value ends

_UNQUOTED = {q: re.compile(rf"[^{q}\\\\\n]*") for q in "\"'"}
_BACKSLASHES = re.compile(r"\\+")


def _quoted_end(text: str, start: int) -> int:
    """The end of the quoted string that opens at `start` (after its closing quote), or the
    end of its line when it is not closed; backslash escapes the next character."""
    quote, at, n = text[start], start + 1, len(text)
    until = _UNQUOTED[quote]
    while True:
        at = until.match(text, at).end()
        if at >= n or text[at] == "\n":
            return at
        if text[at] == quote:
            return at + 1
        run = _BACKSLASHES.match(text, at).end()          # an odd run escapes what follows
        at = run + 1 if (run - at) % 2 else run
        if at > n:
            return n


_BARE = re.compile(r"[^\s\"',;&]*")                       # a shell word's unquoted value
_LINE_REST = re.compile(r"[^\n]*")


def _value_end(text: str, at: int, bare: re.Pattern = _BARE) -> int:
    """Where the value that starts at `at` ends: a quoted string, else a bare word."""
    if at < len(text) and text[at] in "\"'":
        return _quoted_end(text, at)
    return bare.match(text, at).end()


def _keep_quotes(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[0] + MASK + value[0]
    return MASK


class _Masker:
    """Masks the values of the names a pattern finds: `find` matches a name and what separates
    it from its value (never the value itself), `value(m, text)` says where the value is, as
    (start, end, replacement) or None. A name inside a value already masked is passed over, so
    each character is looked at a bounded number of times."""

    def __init__(self, find: re.Pattern, value):
        self.find = find
        self.value = value

    def __call__(self, text: str) -> str:
        out, pos = [], 0
        for m in self.find.finditer(text):
            if m.start() < pos:
                continue
            span = self.value(m, text)
            if span is None:
                continue
            start, end, replacement = span
            if end <= start or text[start:end] == replacement:
                continue
            out += [text[pos:start], replacement]
            pos = end
        if not out:
            return text
        out.append(text[pos:])
        return "".join(out)


def _masked(start: int, end: int, text: str):
    return start, end, _keep_quotes(text[start:end])


# "DB_PASSWORD=a b" inside a quoted string (docker's Env list): to the closing quote
def _env_in_quotes(m, text):
    if not env_secret(m.group("name")):
        return None
    end = _quoted_end(text, m.start("q"))
    if end > m.end() and text[end - 1] == m.group("q"):
        end -= 1
    return m.end(), end, MASK


# (a name is looked at only when it holds a part of a secret-like name: far fewer calls)
_MAY_BE_SECRET = r"(?i:pass|secret|token|key|auth|cred|pw|cookie)"
_ENV_IN_QUOTES = _Masker(re.compile(rf"(?P<q>[\"'])(?=[\w.-]*?{_MAY_BE_SECRET})(?P<name>[\w.-]+)="), _env_in_quotes)

# Authorization: Basic|Bearer|... <credentials>, Cookie: ..., Set-Cookie: ...
_SCHEME = re.compile(r"(?:basic|bearer|token|digest|negotiate|ntlm|aws4-hmac-sha256)[ \t]+", re.I)
def _header(m, text):
    at = m.end()
    opener = m.start() - 1 if m.start() > 0 and text[m.start() - 1] in "\"'" else None
    if at < len(text) and text[at] in "\"'":      # "Authorization": "Basic ..." (JSON): the string
        start, end = at + 1, _quoted_end(text, at)
        if text[end - 1:end] == text[at] and end - 1 >= start:
            end -= 1
    elif opener is not None:            # -H 'Authorization: ...': to the end of that string
        start, end = at, _quoted_end(text, opener)
        if text[end - 1:end] == text[opener] and end - 1 >= start:
            end -= 1
    else:                               # a header line: all of it
        start, end = at, _LINE_REST.match(text, at).end()
        while end > start and text[end - 1] in " \t\r":
            end -= 1
    if m.group("name").lower().endswith("authorization"):
        scheme = _SCHEME.match(text, start)
        if scheme and scheme.end() < end:
            start = scheme.end()
    return (start, end, MASK) if end > start else None


_HEADERS = _Masker(re.compile(r"(?<![\w-])(?P<name>(?i:(?:proxy-)?authorization|(?:set-)?cookie))"
                              r"[\"']?[ \t]*[:=][ \t]*"), _header)


# --password X, --password=X, --requirepass X, "--db-password", "X" (a JSON list in text)
def _long_option(m, text):
    if not _option_secret(m.group("name")):
        return None
    at = m.end()
    if m.group("sep").endswith(("\"", "'")):        # "--password", "X": the next string's content
        end = _quoted_end(text, at - 1)
        if text[end - 1:end] == text[at - 1] and end - 1 > at:
            return at, end - 1, MASK
        return None
    end = _value_end(text, at)
    if m.group("sep") != "=" and text.startswith("-", at):
        return None                     # --password-less flag: the next word is another option
    return _masked(at, end, text)


_LONG_OPTIONS = _Masker(re.compile(rf"(?<![\w-])--(?=[\w-]*?{_MAY_BE_SECRET})(?P<name>[\w-]+)"
                                   r"(?P<sep>=|[ \t]+|[\"']\s*,\s*[\"'])"),
                        _long_option)

# curl -u user:pass, --user user:pass (quoted or not)
_CURL_USER = re.compile(r"(?<!\S)(?:-u[ \t]*|--user(?:=|[ \t]+))(?P<q>[\"']?)[^:\s\"']+:(?!//)")
_CURL_PASS = {"": re.compile(r"[^\s\"']*"), "\"": re.compile(r"[^\"\n]*"), "'": re.compile(r"[^'\n]*")}


def _curl_user(m, text):
    end = _CURL_PASS[m.group("q")].match(text, m.end()).end()
    return (m.end(), end, MASK) if end > m.end() else None


_CURL = _Masker(_CURL_USER, _curl_user)

# scheme://user:password@host, also with no user (redis://:password@host)
_URL_USER = re.compile(r"(?<![\w+.-])[a-zA-Z][a-zA-Z0-9+.-]*://[^:/\s@]*:")
_URL_PASS = re.compile(r"[^@\s/]*(?=@)")


def _url(m, text):
    p = _URL_PASS.match(text, m.end())
    return (m.end(), p.end(), MASK) if p and p.end() > m.end() else None


_URLS = _Masker(_URL_USER, _url)


# NAME=value (shell, env files, URLs' query strings)
def _name_equals(m, text):
    if not _text_secret(m.group("name")):
        return None
    return _masked(m.end(), _value_end(text, m.end()), text)


_NAME_EQUALS = _Masker(re.compile(rf"(?<![\w.-])(?=[\w.-]*?{_MAY_BE_SECRET})(?P<name>[\w.-]+)[ \t]*=[ \t]*"),
                       _name_equals)

# NAME: value and "NAME": "value" (YAML, JSON, headers, LDIF); docker config's "auth"
_COLON_BARE = re.compile(r"[^\n\r\f\v\"',}\]]*")         # words to the end of the line, or , } ]
_JSON_LITERAL = re.compile(r"(?:null|true|false)\b")
_FOLDED = re.compile(r"\n [^\n]*")                       # an LDIF value's continuation line
_BLANKS = re.compile(r"\s*")


def _colon(m, text):
    if not _colon_secret(m.group("name")):
        return None
    at, n = m.end(), len(text)
    if m.group("quote") and (at >= n or text[at] in "\r\n"):
        nxt = _BLANKS.match(text, at).end()           # "auth":\n  "value"
        if nxt < n and text[nxt] == m.group("quote"):
            at = nxt
    if at < n and text[at] in "\"'":
        return _masked(at, _quoted_end(text, at), text)
    if _JSON_LITERAL.match(text, at):
        return None
    if m.group("line_start") is not None and not m.group("quote"):
        end = _LINE_REST.match(text, at).end()        # a line of its own: all of it, folded lines too
        while (fold := _FOLDED.match(text, end)) is not None:
            end = fold.end()
    else:
        end = _COLON_BARE.match(text, at).end()
    while end > at and text[end - 1] in " \t":
        end -= 1
    return (at, end, MASK) if end > at else None


_COLON = _Masker(re.compile(rf"(?P<line_start>^[ \t]*)?(?<![\w.;-])(?P<quote>[\"']?)(?=[\w.;-]*?{_MAY_BE_SECRET})"
                            r"(?P<name>[\w.;-]+)(?P=quote)[ \t]*::?[ \t]*", re.M), _colon)


# netrc: `machine h login u password p` on one line, or `password p` on its own line; the
# server configs that take a secret as `keyword value` (redis.conf, slapd.conf, nss-pam-ldapd)
def _keyword_value(m, text):
    at = m.end()
    end = _value_end(text, at)
    if m.group("word").lower() in ("password", "passwd"):
        after = _NETRC_NEXT.match(text, end)
        if after is None or text.startswith(("=", ":"), at):
            return None
    return _masked(at, end, text)


_NETRC_NEXT = re.compile(r"[ \t]*(?:$|(?:machine|login|account|default|macdef)\b)", re.M)
_KEYWORD_LINES = _Masker(re.compile(
    r"(?:^[ \t]*|\b(?:machine|login|account)[ \t]+\S+[ \t]+|\bdefault[ \t]+)"
    r"(?P<word>password|(?i:requirepass|masterauth|rootpw|bindpw))[ \t]+", re.M), _keyword_value)

_SWARM_TOKEN = re.compile(r"SWMTKN-1-[0-9a-zA-Z-]+")


def _swarm_tokens(text: str) -> str:
    return _SWARM_TOKEN.sub("SWMTKN-1-" + MASK, text)


# ---------------------------------------------------------------- argv: the options of programs

# how a program takes its password: ATTACHED `-pX`, SEPARATE `-p X`, PASS_ARG openssl's `pass:X`
ATTACHED, SEPARATE, BOTH, PASS_ARG = "attached", "separate", "both", "pass-arg"
_MYSQL = {"-p": ATTACHED}       # `-p X` asks for the password; X is the database
_LDAP = {"-w": BOTH}
PROGRAM_OPTIONS: dict[str, dict[str, str]] = {
    **{p: _MYSQL for p in ("mysql", "mysqladmin", "mysqldump", "mysqlcheck", "mysqlimport", "mysqlshow",
                           "mysqlslap", "mysqlpump", "mysqlbinlog", "mariadb", "mariadb-admin", "mariadb-dump",
                           "mariadb-check", "mariadb-import", "mariadb-show", "mariadb-slap", "mariadb-binlog")},
    **{p: _LDAP for p in ("ldapsearch", "ldapmodify", "ldapadd", "ldapdelete", "ldapwhoami", "ldapcompare",
                          "ldapmodrdn", "ldapexop", "ldapurl")},
    "ldappasswd": {"-w": BOTH, "-a": BOTH, "-s": BOTH},
    "slappasswd": {"-s": BOTH},
    "sshpass": {"-p": BOTH},
    "redis-cli": {"-a": BOTH},
    "openssl": {"-passin": PASS_ARG, "-passout": PASS_ARG, "-pass": PASS_ARG, "-k": SEPARATE},
    **{p: {"-p": SEPARATE} for p in ("mongo", "mongosh", "mongodump", "mongorestore", "mongoexport", "mongoimport")},
    "docker": {"-p": BOTH},     # after `login` only: `docker run -p 80:80` publishes a port
}
_NEEDS_SUBCOMMAND = {"docker": "login"}
_COMMAND_END = {"|", "||", "&&", ";", "&"}


def argv_masks(words: list[str]) -> dict[int, int]:
    """Which words of an argv hold a secret: {index: where in the word the secret starts}.
    Long options that take a secret, anywhere (`--password X`, `--db-password=X`); the short
    options of the programs in PROGRAM_OPTIONS, after the program's name, to the end of its
    command (`|`, `;`, `&&`)."""
    masks: dict[int, int] = {}
    options: dict[str, str] = {}
    waiting = None                  # the subcommand the program's options need first
    i = 0
    while i < len(words):
        w = words[i]
        if w in _COMMAND_END:
            options, waiting = {}, None
        elif not w.startswith("-") and w.rsplit("/", 1)[-1] in PROGRAM_OPTIONS:
            name = w.rsplit("/", 1)[-1]
            options, waiting = PROGRAM_OPTIONS[name], _NEEDS_SUBCOMMAND.get(name)
        elif waiting and w == waiting:
            waiting = None
        elif w.startswith("--") and len(w) > 2:
            name, eq, value = w[2:].partition("=")
            if _option_secret(name):
                if eq and value:
                    masks[i] = len(name) + 3
                elif not eq and i + 1 < len(words) and not words[i + 1].startswith("-"):
                    masks[i + 1] = 0
                    i += 1
        elif w.startswith("-") and options and not waiting:
            for opt, how in options.items():
                if w == opt and how != ATTACHED and i + 1 < len(words):
                    value = words[i + 1]
                    if how != PASS_ARG:
                        masks[i + 1] = 0
                    elif value.startswith("pass:"):
                        masks[i + 1] = len("pass:")
                    i += 1
                    break
                if w.startswith(opt) and len(w) > len(opt) and how in (ATTACHED, BOTH):
                    masks[i] = len(opt)
                    break
        i += 1
    return {k: v for k, v in masks.items() if v < len(words[k])}


_PROGRAM = re.compile(r"(?<![\w.-])(?:" + "|".join(sorted(map(re.escape, PROGRAM_OPTIONS), key=len, reverse=True))
                      + r")(?=[\s\"',\]]|$)")
_TOKEN = re.compile(r"[ \t\r\f\v,]*(?:(?P<end>\n|\]|[|;&]+(?=\s|$))|(?P<open>\[)|(?P<quote>[\"'])|(?P<bare>[^\s\"',\[\]]+))")


_LIST_NEXT = re.compile(r"[\"']\s*,")


def _words_from(text: str, at: int, in_list: bool) -> tuple[list[tuple[int, int, int, int]], int]:
    """The words of the command that starts at `at`, to its end (a line's end outside a JSON
    list, the list's `]`, `|`, `;`, `&`): (start, end, content start, content end) each, a
    quoted word's content inside its quotes; and where the command ends."""
    words, depth, n = [], int(in_list), len(text)
    while at < n:
        t = _TOKEN.match(text, at)
        if t is None:           # a character no word is made of (a Unicode space): the end
            return words, at
        if t.group("end") is not None:
            if t.group("end") == "]":
                depth -= 1
            if t.group("end") not in ("\n", "]") or depth <= 0:
                if t.group("end") not in ("\n", "]"):
                    words.append((t.start("end"), t.end(), t.start("end"), t.end()))
                return words, t.end()
            at = t.end()
            continue
        if t.group("open") is not None:
            depth += 1
            at = t.end()
            continue
        if t.group("quote") is not None:
            start = t.start("quote")
            end = _quoted_end(text, start)
            inner_end = end - 1 if end - 1 > start and text[end - 1] == text[start] else end
            words.append((start, end, start + 1, inner_end))
            at = end
            continue
        start, end = t.start("bare"), t.end()
        if end < n and text[end] in "\"'":          # -p'secret word': one word
            end = _quoted_end(text, end)
        words.append((start, end, start, end))
        at = end
    return words, n


def _argv_in_text(text: str) -> str:
    """Commands in text (a shell line, a process listing, a JSON list in docker's output):
    the words argv_masks names, masked."""
    out, pos, scanned = [], 0, 0
    for m in _PROGRAM.finditer(text):
        if m.start() < scanned:
            continue            # inside a command already read (argv_masks saw this name there)
        quoted = m.start() > 0 and text[m.start() - 1] in "\"'" and text.startswith(text[m.start() - 1], m.end())
        in_list = quoted and _LIST_NEXT.match(text, m.end()) is not None     # ["mysql", "-pX"]
        words, scanned = _words_from(text, m.end() + quoted, in_list)
        spans = [(m.start(), m.end(), m.start(), m.end())] + words
        contents = [text[cs:ce] for _, _, cs, ce in spans]
        masks = argv_masks(contents)
        for i in sorted(masks):
            _, _, cs, ce = spans[i]
            start = cs + masks[i]
            out += [text[pos:start], _keep_quotes(text[start:ce])]
            pos = ce
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


# ---------------------------------------------------------------- private keys

_PEM_NAME = r"[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?"
_PEM_BEGIN = re.compile(rf"-----BEGIN {_PEM_NAME}-----")
_PEM_END = re.compile(rf"-----END {_PEM_NAME}-----")
# what a key's body is made of: base64, line breaks (also as the two characters \n inside JSON
# text), and armour headers (Proc-Type, DEK-Info of an encrypted PEM key; Version, Comment of PGP)
_PEM_RUN = re.compile(r"[A-Za-z0-9+/=\s\\]*")
_PEM_HEADER = re.compile(r"(?:Proc-Type|DEK-Info|Comment|Version|Hash|Charset):[^\n\\\"]*")
_PEM_LINE = re.compile(r"[A-Za-z0-9+/=]*|(?:Proc-Type|DEK-Info|Comment|Version|Hash|Charset):.*")
# where a body line cut in its middle starts: after a JSON string's quote, or a long base64 run
_PEM_CUT = re.compile(r'(?<=")[A-Za-z0-9+/=]+$|[A-Za-z0-9+/=]{16,}$')
_PEM_WINDOW = 16384     # more than any private key's body


def _pem_body_end(text: str, at: int) -> int:
    """Where the body of a key that starts at `at` ends: over base64, line breaks and armour
    headers (a header is looked for at the start of the line the base64 stopped in)."""
    start = at
    while True:
        segment = at
        at = _PEM_RUN.match(text, at).end()
        line = max(text.rfind("\n", segment, at) + 1, text.rfind("\\n", segment, at) + 2, segment)
        header = _PEM_HEADER.match(text, line)
        if header is None or header.end() <= at:
            break
        at = header.end()
    while at > start and text[at - 1] == "\\":      # a backslash escapes what follows (\" in JSON)
        at -= 1
    return at


def _pem_line(line: str) -> bool:
    return bool(_PEM_LINE.fullmatch(line)) or (line.endswith("-----") and "PRIVATE KEY" in line)


def _pem(text: str) -> str:
    """Private keys: whole, cut after BEGIN (to where the key's body ends), cut before END
    (back to where its body starts)."""
    if "PRIVATE KEY" not in text:
        return text
    out, pos, no_end = [], 0, False
    for m in _PEM_BEGIN.finditer(text):         # one pass: linear even with many BEGINs
        if m.start() < pos:
            continue
        end = None if no_end else _PEM_END.search(text, m.end())
        no_end = end is None
        out.append(text[pos:m.start()] + KEY_MASK)
        pos = end.end() if end else _pem_body_end(text, m.end())
    text = "".join(out) + text[pos:]
    out, pos = [], 0
    for m in _PEM_END.finditer(text):
        start = max(pos, m.start() - _PEM_WINDOW)
        lines = re.split(r"(\r?\n|\\n)", text[start:m.start()])    # lines and the breaks between
        cut, i = len(lines), len(lines) - 1
        while i >= 0 and _pem_line(lines[i].strip()):               # back over the key's body
            cut, i = i, i - 2
        head = "".join(lines[:cut])
        partial = _PEM_CUT.search(lines[i]) if i >= 0 else None
        if partial:
            head = head[:len(head) - len(lines[i]) - len("".join(lines[i + 1:cut])) + partial.start()]
        out.append(text[pos:start] + head + KEY_MASK)
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


# the passes over text, in order: a later one leaves alone what an earlier one masked
_PASSES = [_ENV_IN_QUOTES, _HEADERS, _LONG_OPTIONS, _argv_in_text, _CURL, _URLS, _NAME_EQUALS,
           _COLON, _KEYWORD_LINES, _swarm_tokens]


class Redactor:
    """redact(text): the passes above, and the literal secrets of a site (its registry password)."""

    def __init__(self, literals=()):
        self.literals = sorted({s for s in literals if s and len(s) >= 6}, key=len, reverse=True)

    @classmethod
    def for_site(cls, site) -> "Redactor":
        literals = []
        ctx = getattr(site, "context_dir", None)
        if ctx:
            try:
                literals.append((Path(ctx) / "registry_password").read_text().strip())
            except (OSError, UnicodeDecodeError):
                pass
        return cls(literals)

    def __call__(self, text: str) -> str:
        if not isinstance(text, str) or not text:
            return text
        for lit in self.literals + [s for s in _site_literals if s not in self.literals]:
            text = text.replace(lit, MASK)
        text = _pem(text)
        for step in _PASSES:
            text = step(text)
        return text


_site_literals: list[str] = []


def use_site(site):
    """Also redact this site's literal secrets in this process's outputs from now on."""
    for lit in Redactor.for_site(site).literals:
        if lit not in _site_literals:
            _site_literals.append(lit)


redact = Redactor()

_ENV_ENTRY = re.compile(r"([\w.-]+)=")
_PAIR_NAME = ("Name", "name", "Key", "key")
_PAIR_VALUE = ("Value", "value")


def _masked_value(key: str, value):
    if isinstance(value, str) and _HEADER.fullmatch(key):
        scheme = _SCHEME.match(value) if key.lower().endswith("authorization") else None
        return (scheme.group(0) if scheme else "") + MASK
    return MASK


def redact_tree(obj, key: str | None = None):
    """A copy of a JSON-like value with every string redacted; the value of a key that names a
    secret ("password", "identitytoken", "auth", "Authorization") is masked whole, and so is the
    value of an environment entry ("DB_PASSWORD=a b"), of a {"Name": "DB_PASSWORD", "Value": ...}
    pair, and an argv's word after an option that takes a secret (["--password", "X"])."""
    if isinstance(obj, dict):
        out = {k: redact_tree(v, str(k)) for k, v in obj.items()}
        name = next((obj[k] for k in _PAIR_NAME if isinstance(obj.get(k), str)), None)
        for k in _PAIR_VALUE:
            if name is not None and env_secret(name) and isinstance(obj.get(k), (str, int, float)) \
                    and not isinstance(obj[k], bool) and obj[k] != "":
                out[k] = MASK
        return out
    if isinstance(obj, (list, tuple)):
        out = [redact_tree(v) for v in obj]
        if obj and all(isinstance(v, str) for v in obj):
            for i, at in argv_masks(list(obj)).items():
                out[i] = obj[i][:at] + MASK
        return type(obj)(out)
    if key is not None and secret_key(key) and isinstance(obj, (str, int, float)) \
            and not isinstance(obj, bool) and obj != "":
        return _masked_value(key, obj)
    if isinstance(obj, str):
        m = _ENV_ENTRY.match(obj)
        if m and env_secret(m.group(1)) and m.end() < len(obj):
            return f"{m.group(1)}={MASK}"
        return redact(obj)
    return obj


def redact_output(text: str) -> str:
    """A command's output: JSON (one document, or one per line) is redacted as JSON and written
    back only where something changed, so it still parses; other text by the rules, and so is
    JSON nested deeper than the parser follows."""
    if not text or not text.strip():
        return text
    if text.lstrip()[0] not in "[{":
        return redact(text)
    try:
        return _redact_json_text(text)
    except RecursionError:
        return redact(text)


def _redact_json_text(text: str) -> str:
    lines = text.split("\n")
    try:                                    # one document per line (docker --format json)
        docs = [json.loads(line) if line.strip() else None for line in lines]
    except ValueError:
        pass
    else:
        return "\n".join(line if d is None or redact_tree(d) == d else json.dumps(redact_tree(d))
                         for line, d in zip(lines, docs))
    try:                                    # one document over many lines (docker inspect)
        doc = json.loads(text)
    except ValueError:
        return redact(text)
    clean = redact_tree(doc)
    return text if clean == doc else json.dumps(clean, indent=4) + "\n"


def redact_report(report):
    """A pytest test or collect report, in place, before any output is made from it: the
    failure text (all its parts, so that --tb=line still has its one-line form), captured
    sections, user properties, the xfail reason, and the names of links pytest-html writes as
    markup; secrets masked and control characters made visible (for_output)."""
    report.longrepr = _redact_repr(report.longrepr, set())
    report.sections = [(visible(title), for_output(content)) for title, content in getattr(report, "sections", [])]
    if hasattr(report, "user_properties"):
        report.user_properties = [(k, output_tree(v)) for k, v in report.user_properties]
    if isinstance(getattr(report, "wasxfail", None), str):
        report.wasxfail = for_output(report.wasxfail)
    for extra in getattr(report, "extras", None) or []:
        if isinstance(extra, dict) and isinstance(extra.get("name"), str) and extra.get("format_type") != "html":
            extra["name"] = html.escape(for_output(extra["name"]))


def output_tree(obj):
    """A JSON-like value as any output shows it: redact_tree, control characters visible."""
    return _visible_tree(redact_tree(obj))


def _visible_tree(obj):
    if isinstance(obj, dict):
        return {visible(k): _visible_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_visible_tree(v) for v in obj)
    return visible(obj)


def _redact_repr(obj, seen: set):
    """pytest's failure representations are small trees of objects holding strings."""
    if isinstance(obj, str):
        return for_output(obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_redact_repr(v, seen) for v in obj)
    if isinstance(obj, dict):
        return {k: _redact_repr(v, seen) for k, v in obj.items()}
    if obj is None or isinstance(obj, (int, float, bool)) or id(obj) in seen:
        return obj
    seen.add(id(obj))
    for name, value in list(getattr(obj, "__dict__", {}).items()):
        object.__setattr__(obj, name, _redact_repr(value, seen))
    return obj
