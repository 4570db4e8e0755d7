"""The grammars of the names a remedy passes to a tool, as the tools themselves define them.

A name read from a server (a failed unit, a service, a node ID) or from the site's files (a
volume in drbd_device_map) is data. Before a remedy puts it on a command line it goes through
the grammar of the tool that receives it; a name that does not fit raises InvalidName, and the
remedy engine turns that into a refusal naming it. Quoting (remedy.Cmd) keeps the shell from
reading a name; these grammars keep the tool from reading it as an option, a keyword or
another object.

Sources:
- systemd: src/basic/unit-name.c, unit_name_is_valid() (systemd 239-257): shorter than
  UNIT_NAME_MAX (256), a known type suffix after the last dot, before it only
  letters, digits and ":-_.\\" plus "@", the first "@" not at the start.
- DRBD: the kernel's drbd_check_resource_name() (not empty, no "/"; DRBD 9 also refuses
  control characters and spaces) and drbd-utils' config scanner (user/v9/drbdadm_scanner.fl),
  whose bare-word token is [a-zA-Z0-9/._-]{1,128}. drbdadm reads a leading "-" as an option
  and the word "all" as every resource.
- Docker services: swarmkit manager/controlapi, validateAnnotations(): a DNS name component,
  ^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$, at most 63 characters.
- Docker volumes (local driver): daemon/names RestrictedNamePattern,
  ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$.
- Swarm node IDs: swarmkit identity.NewID(), 128 random bits in base 36, always 25 characters
  of [0-9a-z].
- DRBD minors: Linux minor numbers have 20 bits (MINORBITS); the device is /dev/drbd<minor>.
- Units that change the system's state: systemd.special(7), systemd-halt.service(8),
  systemd-suspend.service(8), systemd-hibernate-resume.service(8), systemd-debug-generator(8);
  the unit types of systemd.unit(5).
"""
from __future__ import annotations

import re


class InvalidName(ValueError):
    """A name that its tool's grammar does not allow: never passed to a command."""

    def __init__(self, kind: str, value, rule: str):
        self.kind, self.value, self.rule = kind, value, rule
        super().__init__(f"{kind} {value!r} is not a valid name ({rule})")


class Name(str):
    """A name that passed its grammar; `kind` says which."""
    kind = "name"


def _checked(kind: str, value, ok: bool, rule: str) -> Name:
    if not isinstance(value, str) or not ok:
        raise InvalidName(kind, value, rule)
    name = Name(value)
    name.kind = kind
    return name


UNIT_TYPES = ("service", "socket", "target", "device", "mount", "automount", "swap", "timer",
              "path", "slice", "scope")
UNIT_NAME_MAX = 256
_UNIT_CHARS = re.compile(r"[A-Za-z0-9:_.\\@-]+")


def unit(value) -> Name:
    """A systemd unit name (plain, template or instance), as unit_name_is_valid() accepts it."""
    rule = ("systemd allows letters, digits and :-_.\\@ before a unit type suffix, "
            f"shorter than {UNIT_NAME_MAX} characters")
    ok = isinstance(value, str) and 0 < len(value) < UNIT_NAME_MAX
    if ok:
        prefix, dot, suffix = value.rpartition(".")
        ok = (bool(dot) and bool(prefix) and suffix in UNIT_TYPES
              and _UNIT_CHARS.fullmatch(prefix) is not None and not prefix.startswith("@"))
    return _checked("systemd unit", value, ok, rule)


class HarmfulName(InvalidName):
    """A name its tool accepts that a remedy must still never pass: it would change more than
    the remedy means to (a unit that shuts the server down, say)."""

    def __init__(self, kind: str, value, rule: str, message: str | None = None):
        self.kind, self.value, self.rule = kind, value, rule
        ValueError.__init__(self, message or f"{kind} {value!r} {rule}")


# Types whose start, restart or stop changes the system as a whole: targets pull in (or stop)
# whole sets of units, mount/automount/swap units change the filesystems under every service,
# slices and scopes hold other units' processes, devices come from the kernel.
STATE_TYPES = {
    "target": "is a target: starting it pulls in (and may stop) a whole set of units",
    "mount": "is a mount: (re)mounting changes the filesystem under every service using the path",
    "automount": "is an automount: it changes the filesystem under every service using the path",
    "swap": "is a swap unit: it changes the memory of the whole server",
    "slice": "is a slice: it holds other units' processes",
    "scope": "is a scope: it holds processes systemd did not start and cannot start again",
    "device": "is a device unit: the kernel, not systemctl, brings it up",
}
# systemd.special(7) targets that shut down, reboot, suspend or isolate the system (what a unit
# must not pull in either); every target is refused as a unit to start, these also as pulled
STATE_TARGETS = frozenset({
    "shutdown", "reboot", "halt", "poweroff", "kexec", "soft-reboot", "exit", "final", "umount",
    "ctrl-alt-del", "emergency", "rescue", "sleep", "suspend", "hibernate", "hybrid-sleep",
    "suspend-then-hibernate", "system-update", "system-update-pre", "factory-reset",
    "initrd-switch-root", "initrd", "initrd-root-fs", "initrd-fs", "initrd-root-device", "initrd-usr-fs",
})
# services that carry those transitions out (systemd-halt.service(8), systemd-suspend.service(8),
# systemd-hibernate-resume.service(8)) or open a root shell (systemd-debug-generator(8));
# a template's instances too (systemd-hibernate-resume@<dev>.service)
STATE_SERVICES = frozenset({
    "systemd-halt", "systemd-poweroff", "systemd-reboot", "systemd-kexec", "systemd-soft-reboot",
    "systemd-exit", "systemd-suspend", "systemd-hibernate", "systemd-hybrid-sleep",
    "systemd-suspend-then-hibernate", "systemd-hibernate-resume", "systemd-sysupdate-reboot",
    "emergency", "rescue", "debug-shell", "initrd-switch-root", "initrd-cleanup", "initrd-parse-etc",
    "initrd-udevadm-cleanup-db", "systemd-update-done", "system-update-cleanup",
})


def changes_system_state(value: str, pulled: bool = False) -> str | None:
    """Why starting this unit (or, pulled=True, having it pulled in by another unit's start or
    failure) changes the system's state, or None. By type for a unit started itself; by the
    well-known special units for both."""
    prefix, _, suffix = value.rpartition(".")
    base = prefix.split("@", 1)[0]
    if suffix == "target" and base in STATE_TARGETS:
        return "shuts down, reboots, suspends or isolates the server (a special target of systemd.special(7))"
    if suffix == "service" and base in STATE_SERVICES:
        return ("carries out a shutdown, reboot, suspend or rescue shell (a special service of "
                "systemd.special(7))")
    if prefix == "-" and suffix == "mount":
        return "is the root filesystem's mount (-.mount)"
    if not pulled and suffix in STATE_TYPES:
        return STATE_TYPES[suffix]
    return None


def startable_unit(value) -> Name:
    """A unit a remedy may start, restart or disable: a valid unit name (unit()) whose start
    does not change the system's state (changes_system_state)."""
    name = unit(value)
    why = changes_system_state(name)
    if why:
        raise HarmfulName("systemd unit", value, f"{why}; a remedy never starts, restarts or disables it")
    return name


_DRBD_RESOURCE = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]{0,127}")


def drbd_resource(value) -> Name:
    """A DRBD resource name drbdadm takes as one resource: the config scanner's bare word
    without "/", not an option ("-..."), not the keyword "all"."""
    ok = isinstance(value, str) and _DRBD_RESOURCE.fullmatch(value) is not None and value != "all"
    return _checked("DRBD resource", value, ok,
                    "drbd-utils allows 1-128 of letters, digits and ._-, not starting with '-', not 'all'")


_DRBD_PEER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")


def drbd_connection(resource, peer) -> Name:
    """`<resource>:<peer>`, the one connection of a resource drbdadm takes (drbdadm(8)): the
    resource as drbd_resource(), the peer a host name as its `on` section names it (the config
    scanner's bare word without "/", not an option)."""
    res = drbd_resource(resource)
    ok = isinstance(peer, str) and _DRBD_PEER.fullmatch(peer) is not None
    _checked("DRBD peer", peer, ok, "a host name: letters, digits and ._-, not starting with . _ or -")
    return _checked("DRBD connection", f"{res}:{peer}", True, "")


_SERVICE = re.compile(r"[A-Za-z0-9](?:[-_A-Za-z0-9]*[A-Za-z0-9])?")


def service(value) -> Name:
    """A docker swarm service name (the same language as swarmkit's regex, written without
    nested repetition so that a long hostile name cannot make the match slow)."""
    ok = isinstance(value, str) and len(value) <= 63 and _SERVICE.fullmatch(value) is not None
    return _checked("docker service", value, ok,
                    "swarm allows a DNS name component: letters, digits, - and _, starting and "
                    "ending with a letter or digit, at most 63 characters")


_VOLUME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")


def volume(value) -> Name:
    """A docker volume name of the local driver."""
    ok = isinstance(value, str) and _VOLUME.fullmatch(value) is not None
    return _checked("docker volume", value, ok,
                    "docker allows [a-zA-Z0-9][a-zA-Z0-9_.-]+ for a local volume")


_NODE_ID = re.compile(r"[0-9a-z]{25}")


def node_id(value) -> Name:
    """A swarm node ID as swarmkit generates it."""
    ok = isinstance(value, str) and _NODE_ID.fullmatch(value) is not None
    return _checked("swarm node ID", value, ok, "swarmkit node IDs are 25 characters of [0-9a-z]")


MINOR_MAX = (1 << 20) - 1


def drbd_minor(value) -> int:
    """A DRBD minor from drbd_device_map: an integer 0..2^20-1 (YAML may give it as digits)."""
    minor = None
    if isinstance(value, int) and not isinstance(value, bool):
        minor = value
    elif isinstance(value, str) and re.fullmatch(r"[0-9]{1,7}", value):
        minor = int(value)
    if minor is None or not 0 <= minor <= MINOR_MAX:
        raise InvalidName("DRBD minor", value, f"an integer from 0 to {MINOR_MAX}")
    return minor


def drbd_device(site, volume_name) -> tuple[Name, str]:
    """(volume, /dev/drbd<minor>) of a volume of the site's drbd_device_map, or InvalidName."""
    vol = drbd_resource(volume_name)
    volume(vol)
    if vol not in site.drbd_device_map:
        raise InvalidName("DRBD volume", volume_name, "not a volume of the site's drbd_device_map")
    return vol, f"/dev/drbd{drbd_minor(site.drbd_device_map[vol])}"


def replicas(value) -> int:
    """A replica count from a service spec: a non-negative integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidName("replica count", value, "a non-negative integer")
    return value
