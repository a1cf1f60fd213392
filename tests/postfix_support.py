"""A real Postfix instance of its own (Debian's package) for the milter tests.

Its own ``-c`` config directory, listed in ``alternate_config_directories`` of
/etc/postfix/main.cf (postfix refuses an unlisted one), logging to a file
through the postlog service, no chroot, smtpd on 127.0.0.1:PORT, and every
recipient of ``shingles.test`` delivered by the virtual agent to one Maildir.
"""

from __future__ import annotations

import os
import pathlib
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time

DOMAIN = "shingles.test"
_DEFAULT_MAIN = pathlib.Path("/etc/postfix/main.cf")


def missing() -> str | None:
    """Return why a Postfix test cannot run here, or None."""
    if shutil.which("postfix") is None or not pathlib.Path("/etc/postfix/master.cf").exists():
        return "Debian's postfix package is not installed (apt-get install postfix)"
    if os.geteuid() != 0:
        return "starting a Postfix instance needs root"
    try:
        import Milter  # noqa: F401
    except ImportError:
        return "pymilter is not installed (it builds against libmilter-dev)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _allow(config_dir: str) -> None:
    """List config_dir in alternate_config_directories of the default instance."""
    text = _DEFAULT_MAIN.read_text() if _DEFAULT_MAIN.exists() else ""
    found = re.search(r"(?m)^alternate_config_directories\s*=\s*(.*)$", text)
    dirs = found.group(1).split() if found else []
    dirs = [d for d in dirs if os.path.isdir(d)] + [config_dir]
    line = "alternate_config_directories = " + " ".join(dirs)
    text = text.replace(found.group(0), line) if found else text + line + "\n"
    _DEFAULT_MAIN.write_text(text)


class Postfix:
    """A started Postfix instance; ``stop()`` ends it and removes its directory."""

    def __init__(self, milter_port: int | None, extra: str = "") -> None:
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="shingles-postfix-", dir="/var/tmp"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.etc = self.root / "etc"
        self.etc.mkdir()
        self.mail = self.root / "mail"
        self.mail.mkdir()
        nobody = pwd.getpwnam("nobody")
        os.chown(self.mail, nobody.pw_uid, nobody.pw_gid)
        milters = f"smtpd_milters = inet:127.0.0.1:{milter_port}\n" if milter_port else ""
        (self.etc / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {self.root}/queue
data_directory = {self.root}/data
maillog_file = {self.root}/maillog
myhostname = mx.{DOMAIN}
mydomain = {DOMAIN}
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
alias_maps =
alias_database =
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_base = {self.mail}
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:{nobody.pw_uid}
virtual_gid_maps = static:{nobody.pw_gid}
virtual_minimum_uid = 1
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_helo_required = no
disable_dns_lookups = yes
smtp_host_lookup = native
milter_default_action = tempfail
milter_protocol = 6
milter_connect_timeout = 10s
milter_content_timeout = 60s
default_process_limit = 100
in_flow_delay = 0
{milters}{extra}""")
        master = []
        for line in pathlib.Path("/etc/postfix/master.cf").read_text().splitlines():
            words = line.split()
            if line.startswith(("#", " ", "\t")) or len(words) < 8:
                master.append(line)
                continue
            if words[0] == "smtp" and words[1] == "inet":
                words[0] = f"127.0.0.1:{self.port}"
            words[4] = "n"  # chroot off: the instance lives outside /var/spool/postfix
            master.append("  ".join(words))
        (self.etc / "master.cf").write_text("\n".join(master) + "\n")
        _allow(str(self.etc))
        (self.root / "queue").mkdir()  # postfix makes its subfolders, not the root
        for name in ("data",):
            path = self.root / name
            path.mkdir()
            os.chown(path, pwd.getpwnam("postfix").pw_uid, -1)
        self._postfix("start")
        self._wait_listening()

    def _postfix(self, *args: str) -> None:
        subprocess.run(["postfix", "-c", str(self.etc), *args], check=True,
                       capture_output=True, timeout=120)

    def _wait_listening(self) -> None:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("postfix did not listen:\n" + self.log())

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def delivered(self) -> list[bytes]:
        """Return the messages delivered to the Maildir so far."""
        box = self.mail / "box" / "new"
        return [p.read_bytes() for p in sorted(box.iterdir())] if box.exists() else []

    def flush(self) -> None:
        self._postfix("flush")

    def stop(self) -> None:
        try:
            self._postfix("stop")
        except subprocess.CalledProcessError:
            subprocess.run(["postfix", "-c", str(self.etc), "abort"], capture_output=True)
        time.sleep(0.2)
        shutil.rmtree(self.root, ignore_errors=True)
