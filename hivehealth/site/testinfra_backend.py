"""testinfra's paramiko backend on the suite's own connection (hivehealth.site.testinfra_host
uses it for the site's own checks; kept apart so that only a run that asks a server loads
paramiko)."""
from __future__ import annotations

import socket
import time

import paramiko
import pytest
from testinfra.backend.paramiko import ParamikoBackend

from hivehealth.site.testinfra_host import NoAnswer
from hivehealth.site.transport import Budget, Kept, OutputFull, SSHTransport, Unreachable, drain


class SuiteParamiko(ParamikoBackend):
    """testinfra's paramiko backend on the suite's own open connection to the server."""

    def __init__(self, server, transport: SSHTransport, command_timeout: float, hosts):
        super().__init__(server.name, ssh_config=server.ssh_config, timeout=int(transport.connect_timeout))
        self.server = server
        self.transport = transport
        self.command_timeout = command_timeout
        self.hosts = hosts

    def get_pytest_id(self) -> str:
        return self.server.name

    @property
    def client(self) -> paramiko.SSHClient:
        try:
            return self.transport.open_client()
        except Unreachable as e:
            self.hosts.lost[self.server.name] = str(e)
            pytest.fail(f"{self.server.name}: unreachable: {e}", pytrace=False)

    @client.deleter
    def client(self):
        """testinfra drops a dead client to reconnect once: the suite's transport reconnects."""
        self.transport.close()

    def run(self, command: str, *args, **kwargs):
        try:
            return super().run(command, *args, **kwargs)   # testinfra reconnects once on a dead link
        except (paramiko.SSHException, OSError, EOFError) as e:
            pytest.fail(f"{self.server.name}: connection failed: {e or type(e).__name__}", pytrace=False)

    def _exec_command(self, command: bytes) -> tuple[int, bytes, bytes]:
        """One command of a site check, held to what the probe's sections are: command_timeout
        is a deadline for the whole command, and section_output_max bytes of each stream kept."""
        shown = command.decode(errors="replace")
        cap = self.hosts.output_max
        out, err = Kept(None, Budget(cap)), Kept(None, Budget(cap))
        try:
            chan = self.client.get_transport().open_session(timeout=self.transport.connect_timeout)
            chan.settimeout(self.command_timeout)
            chan.exec_command(command)
            rc = drain(chan, time.monotonic() + self.command_timeout, out, err)
        except (socket.timeout, TimeoutError):
            self.transport.close()   # a channel left mid-command: start clean for the next check
            raise NoAnswer(f"{self.server.name}: `{shown}` did not finish within {self.command_timeout:g} s "
                           f"(command_timeout)")
        except OutputFull:
            self.transport.close()
            raise NoAnswer(f"{self.server.name}: `{shown}` printed more than {cap} bytes "
                           f"(section_output_max); its output was not kept")
        return rc, b"".join(out.lines), b"".join(err.lines)
