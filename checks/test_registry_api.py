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
"""
import pytest

from hivehealth.verdict import Verdict

ALERT = "(none: hive's zabbix does not probe the registry)"


@pytest.mark.roles("repository")
def test_registry_api(server, verify):
    verify(registry_api, server)


def parse_probe(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            out[key] = value.strip()
    return out


CURL_ERRORS = {6: "cannot resolve the registry's host name", 7: "connection refused (nothing listens)",
               28: "timed out", 35: "TLS handshake failed", 60: "the certificate does not verify "
               "against the site CA"}


def registry_api(ctx, server) -> Verdict:
    v = Verdict(server.name, alert=ALERT)
    r = ctx.section(v, server, "registry_api")
    if r is None:
        return v
    p = parse_probe(r.stdout)
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
    if curl_rc:
        err = (r.stderr.strip().splitlines() or [""])[-1][:200]
        v.fail(f"GET {url} ({how}) failed: curl exit {curl_rc}, "
               f"{CURL_ERRORS.get(curl_rc, 'no HTTP answer')} {err}".rstrip()
               + f" (expected HTTP 200); on {server.short}: docker ps -a --filter name=registry, "
               f"cd registry; docker compose up -d")
    elif code == "401":
        v.fail(f"GET {url} ({how}) answered HTTP 401 (expected 200): the registry refuses the "
               f"site's credentials (htpasswd in ~/registry vs .hive/<stage>/registry_password)")
    elif code != "200":
        v.fail(f"GET {url} ({how}) answered HTTP {code} (expected 200)")
    return v
