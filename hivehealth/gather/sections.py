"""The sections of the probe: each area declares, in its own check module, the commands its
checks read (`declare(name=(who, command))`); the probe runs every declared section.

Who runs a section: `all` servers, every `hive`, the `repository` server, or one `manager` (the
swarm's services are the same from every manager: asking one saves each other hive its docker
CLI calls, which dominate a probe's cost; if it does not answer, the next hive is asked).
Commands that need root go through $SUDO, which is empty when already root. docker goes through
$DOCKER: plain `docker` when the user may use the socket (hive-builder's admin is in group
docker), else with sudo: a sudo per docker call is a good part of a probe's cost.

Two areas may read one section; it is declared once, by the area it belongs to, and any other
declaration of the same name must be the same command (else the area that declared it second
fails to import, naming both).
"""
from __future__ import annotations

import re

from hivehealth.site.inventory import Server, Site

WHO = ("all", "hive", "repository", "manager")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")

# name -> (who, shell command). The probe's own: every server answers it, so a probe that gives
# no answer at all tells "did not run" from "ran, read nothing".
SECTIONS: dict[str, tuple[str, str]] = {"uname": ("all", "uname -n")}
DECLARED_BY: dict[str, str] = {"uname": __name__}


class SectionError(ValueError):
    pass


def declare(_module: str | None = None, **sections: tuple[str, str]) -> None:
    """Register sections for the probe: `declare(__name__, df=("all", "$SUDO df -P -T -k"))`."""
    where = _module or "?"
    for name, spec in sections.items():
        if not NAME.match(name) or name == "clock":
            raise SectionError(f"{where}: section name {name!r}: lower-case letters, digits and _ only "
                               f"(and not 'clock', the probe's clock reading)")
        if not (isinstance(spec, tuple) and len(spec) == 2 and spec[0] in WHO and isinstance(spec[1], str)
                and spec[1].strip()):
            raise SectionError(f"{where}: section {name}: give (who, command) with who one of {', '.join(WHO)}")
        if name in SECTIONS and SECTIONS[name] != spec:
            raise SectionError(f"{where}: section {name} is already declared by {DECLARED_BY[name]} "
                               f"with another command; read that one or give yours another name")
        SECTIONS[name] = spec
        DECLARED_BY.setdefault(name, where)


def managers_in_order(site: Site) -> list[Server]:
    """The hives a manager-only section is asked of, in turn: first_hive first."""
    return sorted(site.hives, key=lambda s: "first_hive" not in s.roles)


def manager_sections() -> list[str]:
    return [n for n, (who, _) in SECTIONS.items() if who == "manager"]


def sections_for(server: Server, site: Site) -> list[str]:
    if site.kind == "local":
        # the local machine answers the host-level questions only
        return [n for n, (who, _) in SECTIONS.items() if who == "all"]
    managers = managers_in_order(site)
    first = managers[0].name if managers else None
    return [n for n, (who, _) in SECTIONS.items()
            if who == "all" or (who == "hive" and server.is_hive)
            or (who == "repository" and server.is_repository)
            or (who == "manager" and server.name == first)]


def shown(command: str) -> str:
    """A section's command as an operator would type it."""
    return command.replace("$SUDO ", "sudo ").replace("$DOCKER ", "docker ")
