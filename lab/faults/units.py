"""Lab faults of the area units: failed systemd units (checks/test_units.py)."""
import json
import shlex

from . import Fault
from .site_ops import alive_hive, default_target, remove_service, sx


BROKEN_UNIT = "hh-lab-broken.service"


def inj_failed_unit(lab, target):
    s = default_target(lab, target, "second-hive")
    unit = ("[Unit]\nDescription=hive lab: a host service that fails\n\n[Service]\n"
            "Type=oneshot\nExecStart=/bin/false\n\n[Install]\nWantedBy=multi-user.target\n")
    sx(s, f"cat > /etc/systemd/system/{BROKEN_UNIT} && systemctl daemon-reload && "
          f"systemctl enable {BROKEN_UNIT} >/dev/null 2>&1; systemctl start {BROKEN_UNIT}; true",
       input=unit)
    return s, f"{BROKEN_UNIT} failed on {s['full']}", {}


def heal_failed_unit(lab, s, rec):
    sx(s, f"systemctl disable {BROKEN_UNIT} >/dev/null 2>&1; rm -f /etc/systemd/system/{BROKEN_UNIT}; "
          f"systemctl daemon-reload; systemctl reset-failed {BROKEN_UNIT} 2>/dev/null; true")


def inj_leftover_drbd_unit(lab, target):
    s = default_target(lab, target, "second-hive")
    sx(s, "systemctl start drbd-resource@old_data.service; true")
    return s, f"drbd-resource@old_data.service (a deleted volume) failed on {s['full']}", {}


def heal_leftover_drbd_unit(lab, s, rec):
    sx(s, "systemctl reset-failed drbd-resource@old_data.service 2>/dev/null; true")


def inj_leftover_drbd_unit_enabled(lab, target):
    s = default_target(lab, target, "second-hive")
    sx(s, "systemctl enable drbd-resource@old_data.service 2>/dev/null; "
          "systemctl start drbd-resource@old_data.service; true")
    return s, f"drbd-resource@old_data.service (a deleted volume) enabled and failed on {s['full']}", {}


def heal_leftover_drbd_unit_enabled(lab, s, rec):
    sx(s, "systemctl disable drbd-resource@old_data.service 2>/dev/null; "
          "systemctl reset-failed drbd-resource@old_data.service 2>/dev/null; true")


# a template unit whose instance fails once, then starts: only a restart by its real (escaped)
# name turns it green; the name is the one systemd gives /dev/disk/by-uuid/1234
ESCAPED_TEMPLATE = "hh-lab-esc@.service"
ESCAPED_UNIT = r"hh-lab-esc@dev-disk-by\x2duuid-1234.service"
ESCAPED_ARMED = "/run/hh-lab-esc.armed"


def inj_units_escaped_name(lab, target):
    s = default_target(lab, target, "second-hive")
    unit = ("[Unit]\nDescription=hive lab: instance %I fails once, then starts\n\n[Service]\n"
            "Type=oneshot\nRemainAfterExit=yes\n"
            f"ExecStart=/bin/sh -c 'if [ -e {ESCAPED_ARMED} ]; then rm -f {ESCAPED_ARMED}; exit 1; fi'\n")
    sx(s, f"cat > /etc/systemd/system/{ESCAPED_TEMPLATE} && systemctl daemon-reload && "
          f"touch {ESCAPED_ARMED} && {{ systemctl start {shlex.quote(ESCAPED_UNIT)}; true; }}", input=unit)
    state = sx(s, f"systemctl is-failed {shlex.quote(ESCAPED_UNIT)}", check=False).stdout.strip()
    return s, f"{ESCAPED_UNIT} is {state} on {s['full']} (starts when restarted by that exact name)", {}


def heal_units_escaped_name(lab, s, rec):
    sx(s, f"systemctl stop 'hh-lab-esc@*.service' 2>/dev/null; systemctl reset-failed 'hh-lab-esc@*.service' "
          f"2>/dev/null; rm -f /etc/systemd/system/{ESCAPED_TEMPLATE} {ESCAPED_ARMED}; systemctl daemon-reload",
       check=False)


HOSTILE_UNIT = "foo$(touch /tmp/x).service"
HOSTILE_MARK = "/tmp/x"
HOSTILE_SVC = "hh-lab-hostile"
# what the service's task error will quote: the xfs remedy used to take its device from here
HOSTILE_ERROR = ("failed to mount local volume: mount /dev/drbd1$(touch${IFS}/tmp/x):"
                 "/var/lib/docker/volumes/ldap_data/_data: invalid argument")
SYSTEMCTL_STUB = "/usr/local/bin/systemctl"


def _stub_systemctl(unit):
    """A systemctl earlier in PATH (also sudo's secure_path) that lists one failed unit named
    `unit` and runs the real one for everything else."""
    row = json.dumps([{"unit": unit, "load": "loaded", "active": "failed", "sub": "failed",
                       "description": "hive lab: a hostile unit name"}])
    return ("#!/bin/sh\n# hive lab (fault units:hostile-names): lists a failed unit with a hostile name\n"
            'case " $* " in *" list-units "*)\n'
            '  case " $* " in *" --failed "*|*" --state="*failed*)\n'
            '    case " $* " in\n'
            f'      *" -o json "*) printf "%s\\n" {shlex.quote(row)} ;;\n'
            f'      *) printf "%s\\n" {shlex.quote(unit + " loaded failed failed hostile")} ;;\n'
            "    esac\n    exit 0 ;;\n"
            "  esac ;;\n"
            "esac\n"
            'exec /usr/bin/systemctl "$@"\n')


def inj_hostile_names(lab, target):
    s = default_target(lab, target, "second-hive")
    for srv in lab["servers"]:
        sx(srv, f"rm -f {HOSTILE_MARK}", check=False)
    sx(s, f"cat > {SYSTEMCTL_STUB} && chmod 755 {SYSTEMCTL_STUB}", input=_stub_systemctl(HOSTILE_UNIT))
    # the service's command is the crafted text: docker quotes it in the task error when the
    # exec fails, again and again (a restart loop)
    sx(alive_hive(lab), f"docker service create -d --name {HOSTILE_SVC} --no-resolve-image "
                         f"--restart-delay 2s hive-lab/busybox:latest {shlex.quote(HOSTILE_ERROR)} >/dev/null")
    return s, (f"{s['full']} lists the failed unit {HOSTILE_UNIT}; service {HOSTILE_SVC} fails with "
               f"a task error quoting {HOSTILE_ERROR!r}"), {}


def heal_hostile_names(lab, s, rec):
    remove_service(lab, HOSTILE_SVC)
    sx(s, f"rm -f {SYSTEMCTL_STUB}", check=False)
    for srv in lab["servers"]:
        sx(srv, f"rm -f {HOSTILE_MARK}", check=False)


FAULTS = [
    Fault("units:failed", inj_failed_unit, heal_failed_unit,
          "a real unit hh-lab-broken.service (ExecStart=/bin/false) failed [s-hive1]"),
    Fault("units:leftover-drbd", inj_leftover_drbd_unit, heal_leftover_drbd_unit,
          "drbd-resource@old_data.service of a deleted volume failed [s-hive1]"),
    Fault("units:leftover-drbd-enabled", inj_leftover_drbd_unit_enabled, heal_leftover_drbd_unit_enabled,
          "drbd-resource@old_data.service of a deleted volume still enabled (docker requires it) [s-hive1]"),
    Fault("units:escaped-name", inj_units_escaped_name, heal_units_escaped_name,
          r"hh-lab-esc@dev-disk-by\x2duuid-1234.service failed once (escaped name) [s-hive1]"),
    Fault("units:hostile-names", inj_hostile_names, heal_hostile_names,
          "a failed unit `foo$(touch /tmp/x).service` listed and a service whose task error "
          "quotes a crafted mount error [s-hive1]"),
]
