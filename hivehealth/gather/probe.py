"""Gathering facts: every command a server's checks need, in ONE remote exec per server.

A remote shell start costs more than the commands themselves (0.1-0.15 s per exec over SSH),
so each server gets one script that runs all its sections concurrently, each under `timeout`,
and prints one framed line per section (name, exit code, base64 stdout, base64 stderr).
Servers are gathered concurrently. The result is plain data: it crosses to xdist workers, and
it is what --record saves and --replay reads.
"""
from __future__ import annotations

import base64
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from hivehealth.site.inventory import Server, Site
from hivehealth.gather.sections import SECTIONS, manager_sections, managers_in_order, sections_for, shown
from hivehealth.site.transport import Pool, Unfinished, Unreachable

TIMED_OUT = 124   # exit code of coreutils timeout


@dataclass
class CommandResult:
    name: str
    command: str
    rc: int
    stdout: str
    stderr: str
    unreadable: str = ""      # why the output cannot be used although it ran (too large, cut)

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.unreadable

    def failure(self) -> str:
        """Why this command did not give an answer, for a message."""
        if self.unreadable:
            return f"`{self.command}`: {self.unreadable}"
        if self.rc == TIMED_OUT:
            return f"`{self.command}` timed out"
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return f"`{self.command}` exited {self.rc}" + (f": {text[-1][:200]}" if text else "")

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class HostFacts:
    server: str
    results: dict[str, CommandResult] = field(default_factory=dict)
    unreachable: str | None = None
    gathered_at: float = 0.0            # when its commands were sent (mother's clock)
    seconds: float = 0.0
    clock_window: float | None = None   # the server read its clock within gathered_at + this
    sections: list[str] | None = None   # the sections its probe asked for (None: not known)

    def get(self, name: str) -> CommandResult | None:
        return self.results.get(name)

    def to_dict(self) -> dict:
        return {"server": self.server, "unreachable": self.unreachable, "gathered_at": self.gathered_at,
                "seconds": self.seconds, "clock_window": self.clock_window, "sections": self.sections,
                "results": {k: v.to_dict() for k, v in self.results.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "HostFacts":
        return cls(d["server"], {k: CommandResult(**v) for k, v in d["results"].items()},
                   d.get("unreachable"), d.get("gathered_at", 0.0), d.get("seconds", 0.0),
                   d.get("clock_window"), d.get("sections"))


# How a probe sets $SUDO and $DOCKER for the sections (bench/run.py gives its baselines the same).
PRELUDE = [
    'if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi',
    'if [ -w /var/run/docker.sock ]; then DOCKER=docker; else DOCKER="$SUDO docker"; fi',
    "export SUDO DOCKER LC_ALL=C",
]


OUTPUT_MAX = 8 * 2 ** 20     # bytes of a section's stdout kept (ini section_output_max)


SERVER_GRACE = 5    # seconds past command_timeout a probe's server gives its slowest section
ANSWER_GRACE = 15   # and the mother the whole answer (sending it, over a slow link)


def probe_script(names: list[str], timeout: float, output_max: int = OUTPUT_MAX) -> tuple[str, str]:
    """The one script a server runs; returns (script, marker).

    The sections run concurrently, each under `timeout`; each sends its frame as soon as it is
    done (the frames queue on a FIFO, so they never interleave), and the script stops waiting
    SERVER_GRACE seconds after the timeout (saying `late`): a section that outlives its timeout
    (a process that left its process group holds its output open) costs its own answer only.

    Each section's stdout goes through `head -c output_max` and the rest is only counted, so
    neither the server nor the mother ever holds more of it; a section over the cap sends its
    size and no output. stderr is sent as its last output_max bytes (its last line is the one a
    message quotes). Frame: marker name rc stdout-bytes base64(stdout) base64(stderr)."""
    marker = "HH" + secrets.token_hex(6)
    t = max(1, int(timeout))
    cap = max(1, int(output_max))
    lines = [
        "set +e",
        *PRELUDE,
        # the clock first, before anything else runs: the mother knows when this line arrived
        f"printf '{marker} clock %s\\n' \"$(date +%s.%N)\"",
        'd=$(mktemp -d) || exit 97',
        "trap 'rm -rf \"$d\"' EXIT",
        'mkfifo "$d/q" && exec 3<>"$d/q" || exit 97',
        # the watchdog: `end` on the queue once the sections had their time; stopped (with its
        # sleep) when they are done before. Nothing but the main script writes to stdout, so the
        # answer ends when the script does.
        f"( trap 'kill $s 2>/dev/null; exit 0' TERM; sleep {t + SERVER_GRACE} & s=$!; wait $s; echo end >&3 ) "
        ">/dev/null 2>&1 &",
        "w=$!",
    ]
    for i, name in enumerate(names):
        cmd = SECTIONS[name][1]
        o, e = f'"$d/{i}.o"', f'"$d/{i}.e"'
        lines.append(
            f"( {{ timeout -k 2 {t} sh -c {_sq(cmd)} 2>{e}; echo $? >\"$d/{i}.rc\"; }} "
            f"| {{ head -c {cap} >{o}; wc -c >\"$d/{i}.n\"; }}; "
            f"k=$(wc -c <{o}); r=$(cat \"$d/{i}.n\"); n=$(( ${{k:-0}} + ${{r:-0}} )); "
            f"[ \"$n\" -le {cap} ] || : >{o}; "
            f"{{ printf '{marker} {name} %s %s ' \"$(cat \"$d/{i}.rc\")\" \"$n\"; base64 -w0 <{o}; printf ' '; "
            f"tail -c {cap} {e} | base64 -w0; echo; }} >\"$d/{i}.f\"; echo {i} >&3 ) >/dev/null 2>&1 &")
    lines += [
        f"left={len(names)}",
        'while [ "$left" -gt 0 ] && read -r i <&3; do',
        f'  if [ "$i" = end ]; then echo "{marker} late"; break; fi',
        '  cat "$d/$i.f"; left=$((left - 1))',
        'done',
        'kill "$w" 2>/dev/null',
    ]
    return "\n".join(lines) + "\n", marker


def _sq(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


def _mib(n: int) -> str:
    return f"{n / 2 ** 20:.0f} MiB" if n >= 2 ** 20 else f"{n} bytes"


def _b64(field: str) -> bytes | None:
    try:
        return base64.b64decode(field, validate=True)
    except ValueError:
        return None


def parse_probe_output(stdout: str, marker: str, names: list[str],
                       output_max: int = OUTPUT_MAX, timeout: float | None = None) -> dict[str, CommandResult]:
    """The sections' results from a probe's stdout (timeout: the one it ran them under)."""
    results = {}
    for line in stdout.splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == marker and parts[1] == "clock":
            results["clock"] = CommandResult("clock", "date +%s.%N", 0, parts[2] + "\n", "")
            continue
        if len(parts) < 4 or parts[0] != marker or parts[1] not in SECTIONS:
            continue
        name, rc, size = parts[1], parts[2], parts[3]
        out = _b64(parts[4]) if len(parts) > 4 else b""
        err = _b64(parts[5]) if len(parts) > 5 else b""
        code = int(rc) if rc.lstrip("-").isdigit() else -1
        declared = int(size) if size.isdigit() else -1
        unreadable = ""
        if declared > output_max:
            unreadable = f"output too large ({_mib(declared)}; section_output_max is {_mib(output_max)})"
        elif out is None or err is None or declared != len(out):
            unreadable = "output arrived incomplete or garbled"
        elif code == TIMED_OUT and timeout is not None:
            unreadable = f"timed out after {max(1, int(timeout))} s (command_timeout)"
        results[name] = CommandResult(name, shown(SECTIONS[name][1]), code,
                                      (out or b"").decode(errors="replace") if not unreadable else "",
                                      (err or b"").decode(errors="replace"), unreadable)
    return results


ANSWER_MAX = 32 * 2 ** 20    # bytes of one server's whole answer kept (ini server_output_max)


def line_limits(output_max: int, answer_max: int = ANSWER_MAX) -> tuple[int, int]:
    """What the mother keeps of a probe's answer: per line, a frame with both outputs at the
    cap (base64: 4 bytes per 3) and room for its fields; in all, answer_max."""
    line = 2 * (4 * (output_max // 3 + 1)) + 256
    return min(line, answer_max), answer_max


class Gatherer:
    def __init__(self, site: Site, pool: Pool, command_timeout: float, output_max: int = OUTPUT_MAX,
                 answer_max: int = ANSWER_MAX):
        self.site = site
        self.pool = pool
        self.command_timeout = command_timeout
        self.output_max = output_max
        self.answer_max = answer_max

    def deadline(self) -> float:
        """Seconds one server's whole probe may take, from sending it to its last frame: its
        sections run concurrently, so about as long as the slowest one may."""
        return max(1, int(self.command_timeout)) + SERVER_GRACE + ANSWER_GRACE

    def gather_host(self, server: Server, names: list[str] | None = None) -> HostFacts:
        names = names or sections_for(server, self.site)
        script, marker = probe_script(names, self.command_timeout, self.output_max)
        start = time.time()
        facts = HostFacts(server.name, gathered_at=start, sections=list(names))
        cut = None          # (rc, why) of the sections the answer stopped before
        try:
            r = self.pool.run(server, script, self.deadline(), line_limits(self.output_max, self.answer_max))
        except Unfinished as e:
            r = e.result
            cut = (TIMED_OUT, f"timed out after {self.deadline():g} s: {server.name}'s answer did not end "
                              f"within command_timeout + {SERVER_GRACE + ANSWER_GRACE} s") if e.timed_out else \
                (-1, f"not read: {server.name}'s whole answer went over server_output_max "
                     f"({_mib(self.answer_max)})")
        except Unreachable as e:
            facts.unreachable = str(e)
            facts.seconds = time.time() - start
            return facts
        # a line cut by the end of the answer is no frame
        stdout = r.stdout if cut is None else r.stdout[:r.stdout.rfind("\n") + 1]
        facts.results = parse_probe_output(stdout, marker, names, self.output_max, self.command_timeout)
        if server.spec == "local":
            facts.clock_window = 0.0          # the mother's own clock
        elif r.first_output_at and r.sent_at:
            # from sending the script on the open connection (a slow connect does not
            # widen the window) to its first line, the clock reading, arriving
            facts.gathered_at = r.sent_at
            facts.clock_window = r.first_output_at - r.sent_at
        missing = [n for n in names if n not in facts.results]
        if cut is None and ("\n" + stdout).find(f"\n{marker} late\n") >= 0:
            cut = (TIMED_OUT, f"timed out after {max(1, int(self.command_timeout)) + SERVER_GRACE} s: still "
                              f"running command_timeout + {SERVER_GRACE} s after it started (a process it "
                              f"started holds its output open)")
        if cut is not None:
            for n in missing:
                facts.results[n] = CommandResult(n, shown(SECTIONS[n][1]), cut[0], "", "", cut[1])
        elif missing and not facts.results:
            why = (r.stderr.strip() or r.stdout.strip() or f"exit {r.rc}").splitlines()[-1:]
            facts.unreachable = f"commands did not run on {server.name}: {' '.join(why)[:300]}"
        facts.seconds = time.time() - start
        return facts

    def gather(self, servers: list[Server] | None = None) -> dict[str, HostFacts]:
        servers = servers if servers is not None else self.site.servers
        if not servers:
            return {}
        with ThreadPoolExecutor(max_workers=min(32, len(servers))) as ex:
            facts = dict(zip((s.name for s in servers), ex.map(self.gather_host, servers)))
        self._ask_next_manager(facts)
        return facts

    def _ask_next_manager(self, facts: dict[str, HostFacts]):
        """If the first manager did not answer the manager-only sections, ask the next hives."""
        names = manager_sections()
        managers = [m for m in managers_in_order(self.site) if m.name in facts]
        if self.site.kind == "local" or not managers:
            return

        def answered(f: HostFacts) -> bool:
            return not f.unreachable and all(f.get(n) is not None and f.get(n).ok for n in names)
        if answered(facts[managers[0].name]):
            return
        for hive in managers[1:]:
            f = facts[hive.name]
            if f.unreachable:
                continue
            # only the manager sections: its clock and the rest belong to the first probe
            extra = self.gather_host(hive, names).results
            f.results.update({n: r for n, r in extra.items() if n in names})
            f.sections = (f.sections or []) + [n for n in names if n not in (f.sections or [])]
            if answered(f):
                return
