"""A Keycloak-shaped OpenID issuer on loopback, and a minter of Keycloak-shaped access tokens.

Keycloak itself cannot run here, so this serves what the authorizer reads from it, at
Keycloak's own paths: discovery at `<iss>/.well-known/openid-configuration` and the JWKS at
`<iss>/protocol/openid-connect/certs`. Like a real realm, the JWKS lists an RS256 signing key
and an RSA-OAEP encryption key (`use: enc`), each with an `x5c` certificate; only the first
may be used to verify tokens.

Tests can also make it behave as a realm does over time: rotate its signing key (a new `kid`
is published, the old key stays listed, as Keycloak keeps a passive key), and make its JWKS
endpoint fail (an HTTP status, a body that is no JSON, or a stall longer than the authorizer's
fetch timeout) while discovery keeps answering. It counts every JWKS GET.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

REALM = "camunda"
AUDIENCE = "zeebe-api"
CLIENT_ID = "zeebe-worker"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class RealmKey:
    """An RSA 2048 key pair with a `kid`, as Keycloak's rsa-generated provider makes."""

    def __init__(self, kid: str, use: str = "sig", alg: str = "RS256"):
        self.kid = kid
        self.use = use
        self.alg = alg
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._cert_der = self._self_signed_cert()

    def _self_signed_cert(self) -> bytes:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, REALM)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self.private_key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.DER)

    def jwk(self) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kid": self.kid,
            "kty": "RSA",
            "alg": self.alg,
            "use": self.use,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
            "x5c": [base64.b64encode(self._cert_der).decode()],
            "x5t": base64.urlsafe_b64encode(hashlib.sha1(self._cert_der).digest()).rstrip(b"=").decode(),
            "x5t#S256": base64.urlsafe_b64encode(hashlib.sha256(self._cert_der).digest()).rstrip(b"=").decode(),
        }


class KeycloakIssuer:
    """Serves one realm's discovery document and JWKS on 127.0.0.1:<ephemeral port>.

    Start with `start()`, stop with `stop()` (the fixture does both). `requests` lists the
    paths fetched, so tests can see what the authorizer asked for.
    """

    def __init__(self, realm: str = REALM):
        self.realm = realm
        self.signing_key = RealmKey(kid=f"sig-{uuid.uuid4().hex[:12]}")
        # Real realms also publish an encryption key; a verifier must not pick it.
        self.encryption_key = RealmKey(kid=f"enc-{uuid.uuid4().hex[:12]}", use="enc", alg="RSA-OAEP")
        # Keys replaced by `rotate_signing_key`, still published (newest first).
        self.retired_keys: list[RealmKey] = []
        self.requests: list[str] = []
        self._lock = threading.Lock()
        # How the JWKS endpoint answers: None (the keys), or a fault set by the methods below.
        self._jwks_fault: tuple[str, float] | None = None
        # Set by `stop`, to release stalled JWKS requests.
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        # Kept after `stop`, so tokens can still be minted for a realm that went away.
        self._port = 0
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> KeycloakIssuer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with issuer._lock:
                    issuer.requests.append(self.path)
                    fault = issuer._jwks_fault if self.path == issuer.jwks_path else None
                if fault is not None and self._answer_fault(*fault):
                    return
                doc = issuer._document(self.path)
                if doc is None:
                    self.send_error(404)
                    return
                self._send_json(json.dumps(doc).encode())

            def _send_json(self, body: bytes) -> None:
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a stalled answer outlived its timeout)

            def _answer_fault(self, kind: str, value: float) -> bool:
                """Answers as the fault says; False when the request should be served after all."""
                if kind == "status":
                    self.send_error(int(value))
                    return True
                if kind == "garbage":
                    self._send_json(b"<html>502 Bad Gateway</html>")
                    return True
                # "stall": hold the request `value` seconds (less when `stop` releases it), then
                # serve it.
                issuer._release.wait(value)
                return False

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._port = self._server.server_address[1]
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="keycloak-issuer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- what it serves ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._port, "issuer not started"
        return self._port

    @property
    def url(self) -> str:
        """The realm's issuer URL, exactly as Quarkus Keycloak puts it in `iss`."""
        return f"http://127.0.0.1:{self.port}/realms/{self.realm}"

    @property
    def jwks_path(self) -> str:
        return f"/realms/{self.realm}/protocol/openid-connect/certs"

    @property
    def jwks_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.jwks_path}"

    def jwks(self) -> dict[str, Any]:
        keys = [self.signing_key, *self.retired_keys, self.encryption_key]
        return {"keys": [key.jwk() for key in keys]}

    def jwks_fetches(self) -> int:
        """How many times the JWKS was asked for (answered or not)."""
        with self._lock:
            return sum(1 for path in self.requests if path == self.jwks_path)

    # -- how it changes ----------------------------------------------------------------------

    def rotate_signing_key(self) -> RealmKey:
        """A new active signing key under a new `kid`; the old one stays in the JWKS."""
        key = RealmKey(kid=f"sig-{uuid.uuid4().hex[:12]}")  # slow: made outside the lock
        with self._lock:
            self.retired_keys.insert(0, self.signing_key)
            self.signing_key = key
        return key

    def fail_jwks(self, status: int = 503) -> None:
        """The JWKS endpoint answers `status` (discovery still answers)."""
        self._set_fault(("status", status))

    def garble_jwks(self) -> None:
        """The JWKS endpoint answers 200 with a body that is no JWKS (a proxy's error page)."""
        self._set_fault(("garbage", 0))

    def stall_jwks(self, seconds: float) -> None:
        """The JWKS endpoint holds each request `seconds` (or until `stop`) before answering."""
        self._set_fault(("stall", seconds))

    def _set_fault(self, fault: tuple[str, float] | None) -> None:
        with self._lock:
            self._jwks_fault = fault

    def _document(self, path: str) -> dict[str, Any] | None:
        base = f"/realms/{self.realm}"
        if path == f"{base}/.well-known/openid-configuration":
            return {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/protocol/openid-connect/auth",
                "token_endpoint": f"{self.url}/protocol/openid-connect/token",
                "jwks_uri": self.jwks_uri,
                "userinfo_endpoint": f"{self.url}/protocol/openid-connect/userinfo",
                "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256", "PS256"],
                "response_types_supported": ["code", "none", "id_token", "token"],
                "subject_types_supported": ["public", "pairwise"],
            }
        if path == self.jwks_path:
            with self._lock:
                return self.jwks()
        return None

    # -- tokens ------------------------------------------------------------------------------

    def claims(
        self,
        permissions: list[str] | None = None,
        *,
        audience: str | list[str] = AUDIENCE,
        client_id: str = CLIENT_ID,
        lifetime: int = 300,
        issuer: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Claims of a client-credentials (M2M) access token, as Keycloak issues them."""
        now = int(time.time())
        first_audience = audience if isinstance(audience, str) else audience[0]
        claims: dict[str, Any] = {
            "exp": now + lifetime,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "iss": issuer if issuer is not None else self.url,
            "aud": audience,
            "sub": str(uuid.uuid4()),
            "typ": "Bearer",
            "azp": client_id,
            "acr": "1",
            "scope": "profile email",
            "realm_access": {"roles": ["offline_access", "uma_authorization", f"default-roles-{self.realm}"]},
            "resource_access": {first_audience: {"roles": list(permissions or [])}},
            "clientHost": "127.0.0.1",
            "clientId": client_id,
            "preferred_username": f"service-account-{client_id}",
            "clientAddress": "127.0.0.1",
            "permissions": {first_audience: list(permissions or [])},
        }
        claims.update(extra)
        return claims

    def mint(
        self,
        permissions: list[str] | None = None,
        *,
        key: RealmKey | None = None,
        kid: str | None = None,
        algorithm: str = "RS256",
        claims: dict[str, Any] | None = None,
        header: dict[str, Any] | None = None,
        **claim_args: Any,
    ) -> str:
        """A signed access token. `key`/`kid` default to the realm's signing key; `header`
        adds fields to the JWS header (e.g. `crit`)."""
        key = key or self.signing_key
        payload = claims if claims is not None else self.claims(permissions, **claim_args)
        headers = {"kid": kid if kid is not None else key.kid, "typ": "JWT", **(header or {})}
        return jwt.encode(payload, key.private_key, algorithm=algorithm, headers=headers)

    def mint_unsigned(self, permissions: list[str] | None = None, **claim_args: Any) -> str:
        """An `alg: none` token carrying otherwise valid claims."""
        header = {"alg": "none", "typ": "JWT", "kid": self.signing_key.kid}

        def part(obj: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

        return f"{part(header)}.{part(self.claims(permissions, **claim_args))}."
