"""Lab faults of the area service_error_log: ERROR lines in the repository's service error log
(checks/test_service_error_log.py)."""
from .. import site, util
from . import Fault
from .site_ops import sx


ERROR_MARK = "hh-lab-error"


def inj_service_error_lines(lab, target):
    """Error lines through the path a service's log takes: syslog over UDP to the repository's
    rsyslog, which copies the lines containing ERROR to /var/log/service-error.log."""
    s = site.repo_of(lab)
    sx(s, "for i in 1 2 3; do logger -d -n 127.0.0.1 -P 10514 -t ldap "
          f"\"ERROR: {ERROR_MARK} line $i: cannot bind to ldap backend\"; done")
    util.wait_for(lambda: sx(s, f"grep -c {ERROR_MARK} /var/log/service-error.log",
                             check=False).stdout.strip() == "3",
                  30, interval=1, what="3 lines in /var/log/service-error.log")
    return s, f"3 ERROR lines of ldap in /var/log/service-error.log on {s['full']}", {}


def heal_service_error_lines(lab, s, rec):
    sx(s, f"sed -i '/{ERROR_MARK}/d' /var/log/service-error.log /var/log/services/ldap.log "
          "2>/dev/null; f=/var/log/service-error.log; [ -s $f ] || rm -f $f; true", check=False)


FAULTS = [
    Fault("service_error_log:error-lines", inj_service_error_lines, heal_service_error_lines,
          "3 ERROR lines of ldap in /var/log/service-error.log [repository]"),
]
