"""Say in words why a TLS connection to the broker fails.

paho reports a failed handshake as "cannot connect" (client-side verification)
or as a socket read error (the broker rejecting our certificate arrives as a TLS
alert after the handshake). Both send an integrator to check the network; this
module names the certificate problem instead.
"""

from __future__ import annotations

import re
import socket
import ssl

from edge.config import TlsConfig

# Alerts a broker sends when it does not accept the client's certificate.
CLIENT_CERT_ALERTS = re.compile(
    r"(TLSV13_ALERT_CERTIFICATE_REQUIRED|SSLV3_ALERT_BAD_CERTIFICATE|"
    r"SSLV3_ALERT_CERTIFICATE_REVOKED|SSLV3_ALERT_CERTIFICATE_EXPIRED|"
    r"SSLV3_ALERT_CERTIFICATE_UNKNOWN|TLSV1_ALERT_UNKNOWN_CA|TLSV1_ALERT_ACCESS_DENIED)"
)


def client_cert_refused(alert: str) -> str:
    return (
        f"the broker refused this node's client certificate ({alert}); check [mqtt].tls "
        "cert_file and key_file, that the certificate was signed by the broker's CA, "
        "and that it is neither revoked nor expired"
    )


def alert_in(text: str) -> str | None:
    """The client-certificate alert named in an error text, if any."""
    match = CLIENT_CERT_ALERTS.search(text)
    return match.group(1) if match else None


def diagnose(host: str, port: int, tls: TlsConfig, timeout_s: float = 3.0) -> str | None:
    """One line naming the TLS problem, or None when TLS is not the problem."""
    try:
        context = ssl.create_default_context(cafile=str(tls.ca_file))
        if tls.cert_file is not None and tls.key_file is not None:
            context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    except (OSError, ssl.SSLError) as exc:
        return f"cannot load the TLS files in [mqtt].tls: {exc}"
    try:
        with (
            socket.create_connection((host, port), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=host) as conn,
        ):
            # TLS 1.3: the broker's verdict on our certificate arrives with the first read.
            conn.settimeout(min(1.0, timeout_s))
            try:
                conn.recv(1)
            except TimeoutError:
                return None
    except ssl.SSLCertVerificationError as exc:
        return (
            f"the broker's certificate is not trusted ({exc.verify_message}); check "
            f"[mqtt].tls.ca_file and that '{host}' is a name in the broker's certificate"
        )
    except ssl.SSLError as exc:
        alert = alert_in(str(exc))
        return client_cert_refused(alert) if alert else f"TLS with the broker failed: {exc}"
    except OSError:
        return None
    return None
