# policies/dev.yaml (the policy of `zeebe-authz serve --dev`) for OPA-Envoy: the same grants,
# decided from the same token and, where a grant has a condition, from the same request field.
#
# Written for the side-by-side comparison (docs/src/peers.md). OPA-Envoy's input is Envoy's
# CheckRequest (`input.attributes`) and, given the descriptor set of proto/gateway.proto, the
# gRPC body decoded to protobuf JSON (`input.parsed_body`). The data document (`data.zeebe`,
# written by tests/e2e/support/peers.py) holds what zeebe-authz reads from its config and its
# rpc catalog: the realm's JWKS, issuer and audience, the rpcs of the gateway, and where each
# rpc carries its tenant(s) and job type.
#
# The answer (`result`) is an object: `allowed`, and on a deny the HTTP status Envoy sends,
# which a gRPC client reads as UNAUTHENTICATED (401) or PERMISSION_DENIED (403), as zeebe-authz
# answers.
package zeebe.authz

import rego.v1

default allow := false

result := {"allowed": true} if allow

else := {"allowed": false, "http_status": 401} if not claims

else := {"allowed": false, "http_status": 403}

# --- the token ------------------------------------------------------------------------------

bearer := token if {
	header := input.attributes.request.http.headers.authorization
	startswith(header, "Bearer ")
	token := substring(header, 7, -1)
}

# Signature (RS256, a key of the JWKS by kid), `exp` and `nbf` against now, `iss` and `aud`;
# and an access token (`typ: Bearer`), as zeebe-authz's `token_type: required` (the default)
# refuses ID, refresh and logout tokens and untyped ones.
claims := payload if {
	[valid, _, payload] := io.jwt.decode_verify(bearer, {
		"cert": data.zeebe.jwks,
		"iss": data.zeebe.issuer,
		"aud": data.zeebe.audience,
	})
	valid
	payload.typ == "Bearer"
}

permissions := object.get(claims, ["permissions", data.zeebe.audience], [])

held_tenants := object.get(claims, "tenants", [])

# --- the rpc --------------------------------------------------------------------------------

prefix := "/gateway_protocol.Gateway/"

# Unknown rpcs and other services' paths are refused (`unknown_rpcs: deny`, `other_paths: deny`).
rpc := name if {
	path := input.attributes.request.http.path
	startswith(path, prefix)
	name := substring(path, count(prefix), -1)
	data.zeebe.rpcs[name]
}

body := input.parsed_body if is_object(input.parsed_body)

else := {}

# A body cut short (over Envoy's max_request_bytes), or none at all, cannot be judged:
# conditions fail (zeebe-authz's body_unavailable), rather than reading as the default tenant.
whole_body if {
	not input.truncated_body
	is_object(input.parsed_body)
}

# --- the grants (policies/dev.yaml) -------------------------------------------------------

# write:* grants every rpc.
allow if {
	"write:*" in permissions
	rpc
}

# read:* grants Topology.
allow if {
	"read:*" in permissions
	rpc == "Topology"
}

# rpc_named_permissions: a permission named like the rpc grants it.
allow if {
	rpc in permissions
}

# tenant:write grants every rpc, but only in the tenants the token holds where the rpc carries
# a tenant; key-only rpcs are left to the broker.
allow if {
	"tenant:write" in permissions
	rpc
	not data.zeebe.tenant_fields[rpc]
}

allow if {
	"tenant:write" in permissions
	field := data.zeebe.tenant_fields[rpc]
	whole_body
	tenant_filter_provided
	every tenant in request_tenants(field) {
		tenant in held_tenants
	}
}

# Camunda 8.9's job activation tenantFilter: ASSIGNED makes the gateway ignore tenantIds, so
# only PROVIDED (the default, absent from the decoded body) keeps the tenants checked here.
tenant_filter_provided if {
	object.get(body, "tenantFilter", "PROVIDED") in {"PROVIDED", 0}
}

# worker:payment grants the job rpcs, activating only job types starting with "payment".
allow if {
	"worker:payment" in permissions
	rpc in data.zeebe.job_rpcs
	not data.zeebe.job_type_fields[rpc]
}

allow if {
	"worker:payment" in permissions
	rpc in data.zeebe.job_rpcs
	field := data.zeebe.job_type_fields[rpc]
	whole_body
	startswith(object.get(body, field.path, ""), "payment")
}

# The tenants of a request: an empty tenant id, or none, means the default tenant.
request_tenants(field) := ["<default>"] if field.default_tenant

else := [default_if_empty(t) | some t in ids] if {
	field.repeated
	ids := object.get(body, field.path, [])
	count(ids) > 0
}

else := ["<default>"] if field.repeated

else := [default_if_empty(object.get(body, field.path, ""))]

default_if_empty(t) := "<default>" if t == ""

else := t
