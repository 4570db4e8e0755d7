"""The registry answers: GET /v2/ on port 5000 of the repository server (hive's zabbix does not probe it).

test_registry watches the registry's size; this checks that it serves at all, the way the hives
reach it (`<repository>:5000`), with the site's CA and credentials, so `hive build-images` and
every image pull on a redeploy would work. Zabbix has no item for it.

How, without ever moving the password (probe `registry_api` in hivehealth/gather_more.py): the
probe runs curl on the repository server itself. hive-builder's registry role exports
DXF_HOST, DXF_USERNAME and DXF_PASSWORD in the admin's ~/.bashrc and puts the site CA in
/etc/pki/ca-trust/source/anchors/cacert.pem; the probe reads them there, writes a mode-600
temporary netrc for curl (`--netrc-file`, removed on exit) and prints only the HTTP status. The
password is never on a command line, in the probe text, in its output or in a report.
A site whose docker daemon.json lists `<registry>:5000` under insecure-registries runs a
plain-HTTP registry without auth (the hive lab): there the probe asks http://<registry>:5000/v2/.
Neither configured: reported as unknown (not passed).
Expected: HTTP 200 (401 = the credentials are refused).

The certificate: a TLS failure is named by curl's own error line (`curl: (60) SSL certificate
problem: certificate has expired`; the help text curl prints after it is not the error), and
the served certificate's dates (`openssl x509 -startdate -enddate` of what `openssl s_client`
receives) say since when it expired or from when it is valid. A certificate that expires within
`registry_cert_warn_days` (30) days is a warning: the registry stops serving every pull then.
"""
import time

import pytest

from hivehealth.gather.sections import declare
from hivehealth.parsers.registry_api import cert_time, curl_error_line, parse_registry_probe
from hivehealth.judge.verdict import Verdict


# Read-only, and no secret leaves the server: the password is read on the repository server
# itself (from the admin's ~/.bashrc, where hive-builder's registry role exports DXF_PASSWORD
# for python-dxf), handed to curl in a mode-600 temporary netrc file that is removed, and only
# the HTTP status is printed.
# the registry's /v2/ from the repository server itself, as hive-builder configures it:
#   tls  : https://$DXF_HOST/v2/ with the site CA and user/password from ~/.bashrc (DXF_*)
#   http : no DXF settings, and docker's daemon.json lists <registry>:5000 as an
#          insecure registry (the site runs a plain-HTTP registry, e.g. the hive lab)
#   none : neither: the probe cannot tell how the registry is meant to be reached
_REGISTRY_API = r"""ca=/etc/pki/ca-trust/source/anchors/cacert.pem
rc=~/.bashrc
val() { sed -n "s/^[[:space:]]*export[[:space:]]\{1,\}$1=//p" "$rc" 2>/dev/null | tail -n 1 | sed "s/^[\"']//; s/[\"']$//"; }
h=$(val DXF_HOST); user=$(val DXF_USERNAME); [ -n "$user" ] || user=hive
if [ -n "$h" ] && grep -q '^[[:space:]]*export[[:space:]]\{1,\}DXF_PASSWORD=' "$rc" 2>/dev/null; then
  [ -r "$ca" ] || { echo "mode tls"; echo "url https://$h/v2/"; echo "noca $ca"; exit 0; }
  n=$(mktemp) || exit 97
  trap 'rm -f "$n"' EXIT
  chmod 600 "$n"
  printf 'machine %s login %s password %s\n' "${h%:*}" "$user" "$(val DXF_PASSWORD)" > "$n"
  echo "mode tls"; echo "url https://$h/v2/"; echo "user $user"
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$ca" --netrc-file "$n" "https://$h/v2/")
  echo "curl $?"; echo "code $code"
  case $h in *:*) c=$h ;; *) c=$h:443 ;; esac
  d=$(timeout 10 openssl s_client -connect "$c" -servername "${h%:*}" </dev/null 2>/dev/null |
      openssl x509 -noout -startdate -enddate 2>/dev/null)
  printf '%s\n' "$d" | sed -n 's/^notBefore=/notbefore /p; s/^notAfter=/notafter /p'
  echo "now $(date +%s)"
  exit 0
fi
r=$(grep -oE '"[^"]+:5000"' /etc/docker/daemon.json 2>/dev/null | head -n 1 | tr -d '"')
if [ -n "$r" ]; then
  echo "mode http"; echo "url http://$r/v2/"
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "http://$r/v2/")
  echo "curl $?"; echo "code $code"
  exit 0
fi
echo "mode none"
exit 0"""

# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    registry_api=("repository", _REGISTRY_API),
)

ALERT = "(none: hive's zabbix does not probe the registry)"


@pytest.mark.roles("repository")
def test_registry_api(server, verify):
    verify(registry_api, server)


CERT_WARN_DAYS = 30
RENEW = ("issue the registry a new server certificate from the site CA (.hive/<stage>/ca on the "
         "mother), install it as /etc/pki/tls/certs/<repository>_cert.pem with its key, then "
         "restart the registry: cd registry; docker compose restart")

CURL_ERRORS = {6: "cannot resolve the registry's host name", 7: "connection refused (nothing listens)",
               28: "timed out", 35: "TLS handshake failed", 60: "the certificate does not verify "
               "against the site CA"}


def registry_api(ctx, server) -> Verdict:
    v = Verdict(server.name, alert=ALERT)
    r = ctx.section(v, server, "registry_api")
    if r is None:
        return v
    p = parse_registry_probe(r.stdout)
    mode, url = p.get("mode"), p.get("url", "?")
    v.data.update(mode=mode, url=url)
    if mode == "none":
        v.unknown("cannot tell how to reach the registry: no DXF_HOST/DXF_PASSWORD in the admin's "
                  "~/.bashrc (hive-builder's registry role writes them) and no <registry>:5000 "
                  "insecure-registry in /etc/docker/daemon.json")
        return v
    if "noca" in p:
        v.fail(f"{url}: the site CA {p['noca']} is missing on {server.short}, so nothing can verify "
               f"the registry's TLS certificate (rerun hive setup-hosts)")
        return v
    if mode not in ("tls", "http") or "code" not in p:
        v.unknown(f"the registry probe gave no answer: {r.stdout.strip()[:200]!r} "
                  f"{r.stderr.strip()[-200:]!r}")
        return v
    how = "with the site CA and user " + p.get("user", "hive") if mode == "tls" else \
        "plain HTTP (insecure-registries in daemon.json)"
    curl_rc = int(p.get("curl", "0") or 0)
    code = p.get("code", "000")
    now = float(p["now"]) if p.get("now", "").isdigit() else None
    not_after, not_before = cert_time(p.get("notafter")), cert_time(p.get("notbefore"))
    if curl_rc:
        err = curl_error_line(r.stderr)
        cert = certificate_problem(err, not_after, not_before, server.short)
        if cert:
            v.fail(f"GET {url} ({how}) failed: {cert}")
        else:
            v.fail(f"GET {url} ({how}) failed: curl exit {curl_rc}, "
                   f"{CURL_ERRORS.get(curl_rc, 'no HTTP answer')}" + (f" ({err})" if err else "")
                   + f" (expected HTTP 200); on {server.short}: docker ps -a --filter name=registry, "
                   f"cd registry; docker compose up -d")
    elif code == "401":
        v.fail(f"GET {url} ({how}) answered HTTP 401 (expected 200): the registry refuses the "
               f"site's credentials (htpasswd in ~/registry vs .hive/<stage>/registry_password)")
    elif code != "200":
        v.fail(f"GET {url} ({how}) answered HTTP {code} (expected 200)")
    if not curl_rc and mode == "tls" and not_after is not None and now is not None:
        days = (not_after - now) / 86400
        v.data["cert_days_left"] = days
        if days <= CERT_WARN_DAYS:
            v.warn(f"the registry's TLS certificate expires on {_date(not_after)} (in {days:.0f} days, "
                   f"warned from {CERT_WARN_DAYS}): from then no hive can pull an image; {RENEW}")
    return v


def _date(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def certificate_problem(err: str, not_after: float | None, not_before: float | None, host: str) -> str | None:
    """The certificate's own fault named from curl's error line (OpenSSL's verify result as curl
    quotes it), or None when the failure is not the certificate's."""
    low = err.lower()
    if "certificate has expired" in low:
        since = f" since {_date(not_after)}" if not_after is not None else ""
        return (f"the registry's TLS certificate has expired{since} (curl: {err}); every image "
                f"pull from it fails; {RENEW}")
    if "not yet valid" in low:
        start = f" until {_date(not_before)}" if not_before is not None else ""
        return (f"the registry's TLS certificate is not yet valid{start} (curl: {err}): either it "
                f"was issued with a future start or {host}'s clock is behind (see test_time); fix "
                f"the clock, or {RENEW}")
    if "subject name" in low or "does not match target host" in low:
        return (f"the registry's TLS certificate is for another host name (curl: {err}): the hives "
                f"reach it as DXF_HOST and that name is not in its subject alternative names; {RENEW}")
    if ("local issuer" in low or "self signed" in low or "self-signed" in low
            or "unable to verify the first certificate" in low or "unknown ca" in low):
        return (f"the registry's TLS certificate is not signed by the site CA "
                f"(/etc/pki/ca-trust/source/anchors/cacert.pem; curl: {err}); {RENEW}")
    return None
