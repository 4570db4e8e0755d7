"""The reason the SSH transport gives for a refused host key, read back by the hostkeys area:
the messages are made by the real transport (its key policy, and a real changed key on a
loopback OpenSSH server), not typed here."""
import base64
import types

import paramiko
import pytest

from hivehealth.parsers.hostkeys import refused_host_key
from hivehealth.site.inventory import Server
from hivehealth.site.transport import HostKeyPolicy, Pool, Unreachable
from loopback_sshd import needs_sshd, sshds  # noqa: F401  (fixture)
from test_ssh_transport import block

KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def refusal(strict: str, files: list[str]) -> str:
    """The transport's own message for a key known_hosts does not have."""
    policy = HostKeyPolicy(types.SimpleNamespace(strict=strict, knownhosts=files, hashknownhosts=False))
    key = paramiko.PKey.from_type_string("ssh-ed25519", base64.b64decode(KEY))
    with pytest.raises(Unreachable) as e:
        policy.missing_host_key(None, "[127.0.0.1]:2222", key)
    return str(e.value)


def test_a_key_never_accepted_is_a_refusal_without_the_transports_advice(tmp_path):
    why = refusal("yes", [str(tmp_path / "known_hosts")])
    assert why.endswith("(runbook FAQ 7.18 if the server was rebuilt)")     # the transport's shape
    assert refused_host_key(why) == (f"host key of [127.0.0.1]:2222 is not in {tmp_path}/known_hosts and "
                                     f"StrictHostKeyChecking is yes; it was never accepted")


def test_a_key_that_cannot_be_recorded_is_a_refusal_as_it_is(tmp_path):
    why = refusal("accept-new", [str(tmp_path / "missing-dir" / "known_hosts")])
    assert refused_host_key(why) == why.rstrip(".")
    assert "new host key of [127.0.0.1]:2222 cannot be recorded" in why and why.endswith("not accepted")


def test_other_reasons_are_no_refusal():
    for why in ("connect to s-hive0.lab timed out after 5 s",
                "authentication failed for admin@s-hive0.lab (10.99.213.10:22): Authentication failed.", ""):
        assert refused_host_key(why) is None


@needs_sshd
def test_a_changed_key_on_a_real_server_is_a_refusal_without_the_advice(tmp_path, sshds):
    d = sshds("hostkeys-changed")
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{d.port} ssh-ed25519 {KEY}\n")
    cfg = tmp_path / "ssh_config"
    cfg.write_text(block("c.lab", d, sshds.client_key, kh, f"  Port {d.port}\n"))
    with pytest.raises(Unreachable) as e:
        Pool(connect_timeout=10).run(Server("c.lab", frozenset({"hive"}), "hive", str(cfg)), "true", 20)
    why = str(e.value)
    assert "Runbook FAQ 7.18" in why                              # what the transport appends
    refused = refused_host_key(why)
    assert refused.startswith(f"host key of c.lab (127.0.0.1:{d.port}) does not match {kh} (got ssh-ed25519 ")
    assert refused.endswith("the server was rebuilt or the connection is intercepted; not accepted")
    assert "Runbook" not in refused and "build-infra" not in refused
