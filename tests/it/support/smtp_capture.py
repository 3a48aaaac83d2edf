#!/usr/bin/python3
"""Capture SMTP server for pgpoolwatch's tests (Debian's python3-aiosmtpd).

A real SMTP server on 127.0.0.1 that requires TLS (STARTTLS, or implicit TLS
with --implicit-tls) and AUTH PLAIN/LOGIN with the one user/password given on
its command line, and writes every accepted message to --maildir as a
directory msg-NNNN/ (created under a temporary name, then renamed, so a
reader never sees half a message) holding:

  mail_from     envelope sender (MAIL FROM)
  rcpt_tos      envelope recipients (RCPT TO), one per line
  raw.eml       the message data as received
  subject       decoded Subject header
  from_header   decoded From header
  to_header     decoded To header
  content_type  the top-level Content-Type (type/subtype)
  parts         content types of the leaf parts, one per line
  html          the decoded text/html part (empty if none)
  auth_user     the login the client used

Every AUTH attempt is also appended to --maildir/auth_attempts as
"<login> ok|bad" (so a test can prove a password was never sent in clear).
With --no-tls the server offers AUTH without any TLS (a misconfigured relay
the client must refuse).

It prints READY on stdout once it listens. Stop it with SIGTERM/SIGKILL.
"""

import argparse
import asyncio
import email
import email.policy
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--cert", required=True, help="server certificate (PEM)")
    p.add_argument("--key", required=True, help="server private key (PEM)")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--no-tls", action="store_true")
    a = p.parse_args()
    if not a.host.startswith("127."):
        p.error("--host must be a loopback address (127.0.0.0/8)")
    return a


class Capture:
    def __init__(self, maildir):
        self.maildir = maildir
        os.makedirs(maildir, exist_ok=True)
        self.count = len([n for n in os.listdir(maildir) if n.startswith("msg-")])

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = "msg-%04d" % self.count
        tmp = os.path.join(self.maildir, "." + name + ".tmp")
        os.makedirs(tmp)
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        html = ""
        parts = []
        for part in msg.walk():
            if part.is_multipart():
                continue
            parts.append(part.get_content_type())
            if part.get_content_type() == "text/html" and not html:
                html = part.get_content()
        login = getattr(session, "pgpw_login", "")
        files = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": "\n".join(envelope.rcpt_tos),
            "subject": str(msg.get("Subject", "")),
            "from_header": str(msg.get("From", "")),
            "to_header": str(msg.get("To", "")),
            "content_type": msg.get_content_type(),
            "parts": "\n".join(parts),
            "html": html,
            "auth_user": login,
        }
        for fname, text in files.items():
            with open(os.path.join(tmp, fname), "w", encoding="utf-8") as f:
                f.write(text)
        with open(os.path.join(tmp, "raw.eml"), "wb") as f:
            f.write(raw)
        os.rename(tmp, os.path.join(self.maildir, name))
        return "250 2.0.0 OK captured as " + name


def main():
    a = parse_args()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.cert, a.key)
    user, password = a.user.encode(), a.password.encode()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user
            and auth_data.password == password
        )
        login = auth_data.login.decode("utf-8", "replace") if isinstance(auth_data, LoginPassword) else "?"
        with open(os.path.join(a.maildir, "auth_attempts"), "a", encoding="utf-8") as f:
            f.write("%s %s\n" % (login, "ok" if ok else "bad"))
        if ok:
            session.pgpw_login = auth_data.login.decode("utf-8", "replace")
        return AuthResult(success=ok, handled=False)

    handler = Capture(a.maildir)

    def factory():
        if a.no_tls:
            return SMTP(handler, hostname="capture.test", authenticator=authenticator,
                        auth_required=True, auth_require_tls=False)
        if a.implicit_tls:
            # The transport is TLS from the first byte; aiosmtpd only knows
            # about STARTTLS, so its own "TLS before AUTH" check is off.
            return SMTP(handler, hostname="capture.test", authenticator=authenticator,
                        auth_required=True, auth_require_tls=False)
        return SMTP(handler, hostname="capture.test", tls_context=ctx,
                    require_starttls=True, authenticator=authenticator,
                    auth_required=True, auth_require_tls=True)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(factory, host=a.host, port=a.port,
                           ssl=ctx if a.implicit_tls else None,
                           reuse_address=True))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    print("READY", flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    sys.exit(main())
