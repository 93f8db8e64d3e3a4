"""An aiosmtpd SMTP sink that requires AUTH, for ferry's notify tests.

The aiosmtpd command line cannot take an authenticator, so this starts the
same server (aiosmtpd.smtp.SMTP with the Mailbox handler) through its
Controller. Usage: auth_sink.py HOST PORT MAILDIR [CERT KEY]; the accepted
login is in $SINK_USER and $SINK_PASSWORD. With CERT and KEY, STARTTLS is
offered and AUTH is only allowed after it.
"""
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

host, port, maildir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
user = os.environ["SINK_USER"].encode()
password = os.environ["SINK_PASSWORD"].encode()


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == user
        and auth_data.password == password
    )
    return AuthResult(success=ok, handled=False)


kwargs = {"authenticator": authenticate, "auth_required": True, "auth_require_tls": False}
if len(sys.argv) > 5:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    kwargs.update(tls_context=ctx, require_starttls=True, auth_require_tls=True)

controller = Controller(Mailbox(maildir), hostname=host, port=port, **kwargs)
controller.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
