"""Keep secrets out of everything that leaves the process.

One redaction, applied where site text enters a verdict (evidence, messages, fix logs) and again
by every writer (the test reports pytest, pytest-html, JUnit and the JSON report are made from,
the audit log, recordings, the Prometheus textfile), so a new output made from any of them is
redacted without knowing about it. Values are replaced by `***`; the name that said "this is a
secret" stays, so the text stays readable. Command outputs that are JSON (docker's) are redacted
as JSON, so a recording still parses and replays.

Caught: NAME=value and NAME: value for secret-like names (quoted values may hold spaces), an
environment entry whose NAME matches *PASS*, *SECRET*, *TOKEN* or *KEY*, `--password X` and its
kin, `docker login -p X`, `Authorization: Basic|Bearer ...`, `curl -u user:pass`, user:password@
in URLs, netrc `password X`, docker config `"auth"`, swarm join tokens, PEM private keys (also
cut at either end), and the site's registry password wherever it appears.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

MASK = "***"
KEY_MASK = "<private key redacted>"

# a value after a separator: "double quoted" (backslash escapes), 'single quoted', or a bare word
_DQ = r'"(?:[^"\\\n]|\\.)*"'
_SQ = r"'[^'\n]*'"
_BARE = r"[^\s\"',;&]+"
_VALUE = rf"(?:{_DQ}|{_SQ}|{_BARE})"
# an environment entry (docker's Env list): any NAME that contains one of these, as *KEY* globs
# (names are bounded: on a long run of word characters an unbounded name takes quadratic time)
_ENV_NAME = r"[\w.-]{0,64}?(?:pass|secret|token|key)[\w.-]{0,64}"
# in free text, KEY only as a part of its own (API_KEY, apikey, key_id), so that
# StrictHostKeyChecking=no and look_for_keys=False stay readable
_TEXT_NAME = r"(?:[\w.-]{0,64}?(?:pass|secret|token)[\w.-]{0,64}|[\w.-]{0,64}?key(?:[_.-][\w.-]{0,64})?)"
# NAME: value, --NAME value: names that end in a word meaning a secret ("SecretName" does not)
_SECRET_WORD = (r"(?:passw(?:or)?d|passphrase|secret|token|auth|credentials?|"
                r"(?:api|access|private|secret|auth|master|encryption)[_-]?key)")
_COLON_NAME = rf"[\w.-]{{0,64}}?{_SECRET_WORD}"
# a bare value after NAME: runs over words to the end of the line (YAML's `password: a b c`),
# stops at a quote, comma or closing bracket; JSON's null/true/false are not secrets
_COLON_VALUE = rf"(?:{_DQ}|{_SQ}|(?!(?:null|true|false)\b)[^\s\"',}}\]]+(?:[ \t]+[^\s\"',}}\]]+)*)"

_PEM_NAME = r"[A-Z0-9 ]*PRIVATE KEY"
_PEM_BEGIN = re.compile(rf"-----BEGIN {_PEM_NAME}-----")
_PEM_END = re.compile(rf"-----END {_PEM_NAME}-----")
# what a key's body is made of: base64, line breaks (also as the two characters \n inside JSON
# text), and the headers of an encrypted key (Proc-Type: ..., DEK-Info: ...)
_PEM_BODY = r"(?:[A-Za-z0-9+/=\s]|\\[nr]|(?:Proc-Type|DEK-Info|Comment):[^\n\\\"]*)*"
_PEM_BODY_RE = re.compile(_PEM_BODY)
_PEM_LINE = re.compile(r"[A-Za-z0-9+/=]*|(?:Proc-Type|DEK-Info|Comment):.*|.*KEY-----")
# where a body line cut in its middle starts: after a JSON string's quote, or a long base64 run
_PEM_CUT = re.compile(r'(?<=")[A-Za-z0-9+/=]+$|[A-Za-z0-9+/=]{16,}$')
_PEM_WINDOW = 16384     # more than any private key's body


def _keep_quotes(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[0] + MASK + value[0]
    return MASK


def _sub_value(m: re.Match) -> str:
    return m.group("pre") + _keep_quotes(m.group("val"))


def _long_option(m: re.Match) -> str:
    if re.search(r"-(?:stdin|file|env)$", m.group("opt"), re.I) or m.group("val").startswith("-"):
        return m.group(0)           # --password-stdin takes no value; the next word is not one
    return m.group("opt") + m.group("sep") + _keep_quotes(m.group("val"))


_RULES: list[tuple[re.Pattern, object]] = [
    # "DB_PASSWORD=a b" inside a quoted string (docker's Env list): to the closing quote
    (re.compile(rf"(?P<pre>(?P<q>[\"'])(?i:{_ENV_NAME})=)(?P<val>(?:(?!(?P=q))[^\\\n]|\\.)*)"),
     lambda m: m.group("pre") + MASK),
    # Authorization: Basic|Bearer|... <credentials>
    (re.compile(r"(?P<pre>(?i:\b(?:proxy-)?authorization)[\"']?\s*[:=]\s*[\"']?"
                r"(?:(?i:basic|bearer|token|digest|negotiate|ntlm)\s+)?)(?P<val>[^\s\"',]+)"),
     lambda m: m.group("pre") + MASK),
    # --password X, --password=X, --registry-token X ...
    (re.compile(rf"(?P<opt>(?<![\w-])--[\w-]{{0,64}}?(?i:password|passwd|passphrase|secret|token|api-?key)[\w-]{{0,64}})"
                rf"(?P<sep>=|[ \t]+)(?P<val>{_VALUE})"), _long_option),
    # docker login [...] -p X
    (re.compile(rf"(?P<pre>\bdocker[ \t]+login\b[^\n]*?[ \t]-p(?:[ \t]+|=)?)(?P<val>{_VALUE})"), _sub_value),
    # curl -u user:pass, --user user:pass (quoted or not)
    (re.compile(r"(?P<pre>(?<!\S)(?:-u[ \t]*|--user(?:=|[ \t]+))(?P<q>[\"'])[^:\s\"']+:)(?P<val>(?:(?!(?P=q))[^\n])*)"),
     lambda m: m.group("pre") + MASK),
    (re.compile(r"(?P<pre>(?<!\S)(?:-u[ \t]*|--user(?:=|[ \t]+))[^:\s\"']+:)(?P<val>[^\s\"']+)"),
     lambda m: m.group("pre") + MASK),
    # scheme://user:password@host
    (re.compile(r"(?P<pre>(?<![\w+.-])[a-zA-Z][a-zA-Z0-9+.-]{0,30}://[^:/\s@]{1,256}:)(?P<val>[^@\s/]{1,256})@"),
     lambda m: m.group("pre") + MASK + "@"),
    # NAME=value (shell, env files, URLs' query strings)
    (re.compile(rf"(?P<pre>(?<![\w.-])(?i:{_TEXT_NAME})[ \t]*=[ \t]*)(?P<val>{_VALUE})"), _sub_value),
    # NAME: value and "NAME": "value" (YAML, JSON, headers); docker config's "auth"
    (re.compile(rf"(?P<pre>(?<![\w.-])[\"']?(?i:{_COLON_NAME})[\"']?[ \t]*:[ \t]*)(?P<val>{_COLON_VALUE})"),
     _sub_value),
    # netrc: `machine h login u password p` on one line, or `password p` on its own line
    (re.compile(rf"(?P<pre>(?:^[ \t]*|\b(?:machine|login|account)[ \t]+\S+[ \t]+|\bdefault[ \t]+)"
                rf"password[ \t]+)(?![=:])(?P<val>{_VALUE})"
                rf"(?=[ \t]*(?:$|(?:machine|login|account|default|macdef)\b))", re.M), _sub_value),
    # swarm join tokens
    (re.compile(r"SWMTKN-1-[0-9a-zA-Z-]+"), lambda m: "SWMTKN-1-" + MASK),
]


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
        pos = end.end() if end else _PEM_BODY_RE.match(text, m.end()).end()
    text = "".join(out) + text[pos:]
    out, pos = [], 0
    for m in _PEM_END.finditer(text):
        start = max(pos, m.start() - _PEM_WINDOW)
        lines = re.split(r"(\r?\n|\\n)", text[start:m.start()])    # lines and the breaks between
        cut, i = len(lines), len(lines) - 1
        while i >= 0 and _PEM_LINE.fullmatch(lines[i].strip()):   # back over the key's body
            cut, i = i, i - 2
        head = "".join(lines[:cut])
        partial = _PEM_CUT.search(lines[i]) if i >= 0 else None
        if partial:
            head = head[:len(head) - len(lines[i]) - len("".join(lines[i + 1:cut])) + partial.start()]
        out.append(text[pos:start] + head + KEY_MASK)
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


class Redactor:
    """redact(text): the rules above, and the literal secrets of a site (its registry password)."""

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
        for pat, rep in _RULES:
            text = pat.sub(rep, text)
        return text


_site_literals: list[str] = []


def use_site(site):
    """Also redact this site's literal secrets in this process's outputs from now on."""
    for lit in Redactor.for_site(site).literals:
        if lit not in _site_literals:
            _site_literals.append(lit)


redact = Redactor()

_SECRET_KEY = re.compile(rf"(?i){_SECRET_WORD}$")
_ENV_ENTRY = re.compile(rf"(?i)({_ENV_NAME})=([^\n]+)")


def redact_tree(obj, key: str | None = None):
    """A copy of a JSON-like value with every string redacted; the value of a key that names a
    secret ("password", "identitytoken", "auth") is masked whole, and so is the value of an
    environment entry ("DB_PASSWORD=a b")."""
    if isinstance(obj, dict):
        return {k: redact_tree(v, str(k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_tree(v) for v in obj)
    if key is not None and _SECRET_KEY.search(key) and isinstance(obj, (str, int, float)) \
            and not isinstance(obj, bool) and obj != "":
        return MASK
    if isinstance(obj, str):
        m = _ENV_ENTRY.fullmatch(obj)
        if m:
            return f"{m.group(1)}={MASK}"
        return redact(obj)
    return obj


def redact_output(text: str) -> str:
    """A command's output: JSON (one document, or one per line) is redacted as JSON and written
    back only where something changed, so it still parses; other text by the rules."""
    if not text or not text.strip():
        return text
    if text.lstrip()[0] not in "[{":
        return redact(text)
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
    """A pytest test or collect report, in place: the failure text (all its parts, so that
    --tb=line still has its one-line form), captured sections, user properties, the xfail
    reason, and the names of links pytest-html writes as markup."""
    report.longrepr = _redact_repr(report.longrepr, set())
    report.sections = [(title, redact(content)) for title, content in getattr(report, "sections", [])]
    if hasattr(report, "user_properties"):
        report.user_properties = [(k, redact_tree(v)) for k, v in report.user_properties]
    if isinstance(getattr(report, "wasxfail", None), str):
        report.wasxfail = redact(report.wasxfail)
    for extra in getattr(report, "extras", None) or []:
        if isinstance(extra, dict) and isinstance(extra.get("name"), str) and extra.get("format_type") != "html":
            extra["name"] = html.escape(redact(extra["name"]))


def _redact_repr(obj, seen: set):
    """pytest's failure representations are small trees of objects holding strings."""
    if isinstance(obj, str):
        return redact(obj)
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
