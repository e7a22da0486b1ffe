"""Logs in to ferryd with paramiko the ways scripts do; run by tests/it/clients_paramiko.rs.

    python3 paramiko_login.py CASE HOST PORT USER PASSWORD [ARGS...]

Cases (each prints "ok ..." and exits 0, or exits non-zero with the reason on stderr):
  key-then-password KEY_FILE UPLOAD_FILE   SSHClient.connect with a refused key and the password
  none-then-password                       Transport: auth_none, then auth_password
  wrong-then-right                         Transport: a wrong password, then the right one
  keyboard-interactive                     Transport: auth_none, then auth_interactive
  max-attempts N                           Transport: N wrong passwords, then the right one
  key-and-password KEY_FILE                a user who needs both: key, wrong password, password

paramiko's own timeouts are cut to 10 s so a server that stops answering fails the case in
seconds with "Authentication timeout" rather than after paramiko's default 30 s.
"""

import sys

import paramiko

TIMEOUT = 10


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def transport(host, port):
    t = paramiko.Transport((host, port))
    t.banner_timeout = TIMEOUT
    t.auth_timeout = TIMEOUT
    t.start_client(timeout=TIMEOUT)
    return t


def allowed_after_none(t, user):
    """The methods the server offers now, from an auth_none probe (which it always refuses)."""
    try:
        t.auth_none(user)
    except paramiko.BadAuthenticationType as refusal:
        return sorted(refusal.allowed_types)
    except paramiko.SSHException as error:
        fail(f"auth_none: {type(error).__name__}: {error}")
    fail("auth_none logged in")


def wrong_password(t, user, what):
    # With `password` still offered paramiko raises plain AuthenticationException; when the
    # server stops listing it, paramiko raises BadAuthenticationType and scripts give up.
    try:
        t.auth_password(user, "not the password")
    except paramiko.BadAuthenticationType as refusal:
        fail(f"{what}: password no longer offered, allowed {refusal.allowed_types}")
    except paramiko.AuthenticationException as refusal:
        if "timeout" in str(refusal).lower():
            fail(f"{what}: {refusal}")
        return
    fail(f"{what}: a wrong password logged in")


def right_password(t, user, password, what):
    try:
        left = t.auth_password(user, password)
    except paramiko.SSHException as error:
        fail(f"{what}: {type(error).__name__}: {error}")
    if left or not t.is_authenticated():
        fail(f"{what}: not logged in, methods left {left}")


def listing(t):
    sftp = paramiko.SFTPClient.from_transport(t)
    names = sorted(sftp.listdir("/"))
    sftp.close()
    return names


def key_then_password(host, port, user, password, key_file, upload):
    key = paramiko.Ed25519Key.from_private_key_file(key_file)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    # SSHClient tries the key first and the password after the key is refused.
    try:
        client.connect(
            host,
            port=port,
            username=user,
            password=password,
            pkey=key,
            look_for_keys=False,
            allow_agent=False,
            timeout=TIMEOUT,
            banner_timeout=TIMEOUT,
            auth_timeout=TIMEOUT,
        )
    except paramiko.SSHException as error:
        fail(f"SSHClient.connect: {type(error).__name__}: {error}")
    sftp = client.open_sftp()
    sftp.put(upload, "/from-paramiko.txt")
    names = sorted(sftp.listdir("/"))
    client.close()
    print("ok", " ".join(names))


def none_then_password(host, port, user, password):
    t = transport(host, port)
    allowed = allowed_after_none(t, user)
    right_password(t, user, password, "password after auth_none")
    print("ok", ",".join(allowed), "|", " ".join(listing(t)))
    t.close()


def wrong_then_right(host, port, user, password):
    t = transport(host, port)
    wrong_password(t, user, "first password")
    allowed = allowed_after_none(t, user)
    right_password(t, user, password, "password after a wrong one")
    print("ok", ",".join(allowed), "|", " ".join(listing(t)))
    t.close()


def keyboard_interactive(host, port, user, password):
    t = transport(host, port)
    allowed = allowed_after_none(t, user)
    prompts_seen = []

    def answer(title, instructions, prompts):
        prompts_seen.extend(text for text, _echo in prompts)
        return [password for _ in prompts]

    try:
        left = t.auth_interactive(user, answer)
    except paramiko.SSHException as error:
        fail(f"keyboard-interactive: {type(error).__name__}: {error}")
    if left or not t.is_authenticated():
        fail(f"keyboard-interactive: not logged in, methods left {left}")
    print("ok", ",".join(allowed), "|", "/".join(prompts_seen), "|", " ".join(listing(t)))
    t.close()


def max_attempts(host, port, user, password, attempts):
    t = transport(host, port)
    for attempt in range(1, int(attempts) + 1):
        wrong_password(t, user, f"wrong password {attempt}")
    # Attempts are used up: even the right password must not log in; the server hangs up.
    try:
        t.auth_password(user, password)
    except paramiko.BadAuthenticationType as refusal:
        fail(f"after the last attempt: refused with methods {refusal.allowed_types}, not cut")
    except (paramiko.SSHException, EOFError, OSError) as error:
        if "timeout" in str(error).lower():
            fail(f"after the last attempt: {error}")
    else:
        fail("logged in after max_auth_attempts refusals")
    if t.is_active():
        fail("still connected after max_auth_attempts refusals")
    print("ok disconnected")


def key_and_password(host, port, user, password, key_file):
    key = paramiko.Ed25519Key.from_private_key_file(key_file)
    t = transport(host, port)
    try:
        # Partial success: paramiko returns the methods that can complete the login.
        needed = sorted(t.auth_publickey(user, key))
    except paramiko.SSHException as error:
        fail(f"key: {type(error).__name__}: {error}")
    # A wrong second factor must not make the server stop offering it.
    wrong_password(t, user, "wrong second factor")
    right_password(t, user, password, "password after the key and a wrong password")
    print("ok", ",".join(needed), "|", " ".join(listing(t)))
    t.close()


CASES = {
    "key-then-password": key_then_password,
    "none-then-password": none_then_password,
    "wrong-then-right": wrong_then_right,
    "keyboard-interactive": keyboard_interactive,
    "max-attempts": max_attempts,
    "key-and-password": key_and_password,
}

if __name__ == "__main__":
    case, host, port, user, password, *rest = sys.argv[1:]
    CASES[case](host, int(port), user, password, *rest)
