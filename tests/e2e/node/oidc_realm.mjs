// An OpenID Provider no one on this project wrote: npm `oidc-provider` (a certified OpenID
// Connect implementation), mounted at Keycloak's path `/realms/<realm>` on 127.0.0.1:<port>,
// issuing JWT access tokens to confidential clients with the client_credentials grant. Used by
// tests/e2e/test_oidc_provider.py through support/oidc_realm.py.
//
// Only what a Camunda installation would configure is configured; every other behaviour
// (routes, JWKS shape, token header and claims) is the provider's own:
// - resource indicators (RFC 8707) make client_credentials tokens JWTs: the one resource is the
//   Zeebe API, `aud` is its URI, and it is the default for clients that name none (zbctl and
//   the SDK send Keycloak's `audience` parameter, which the provider ignores);
// - `extraTokenClaims` adds Camunda Identity's `permissions.<audience>` claim and the tenants;
// - clients authenticate with client_secret_post, as zbctl and @camunda8/sdk do.
//
// Usage: node oidc_realm.mjs '{"realm": "camunda", "resource": "...", "ttl": 300,
//   "clients": [{"id": "...", "secret": "...", "permissions": [...], "tenants": [...]}]}'
// Prints `READY {"issuer": ..., "port": ...}` once it listens. Test controls, outside the realm:
// POST /_test/rotate (a new signing key, the old one still published, as Keycloak keeps a
// passive key) answers {"kid": <new kid>}.

import { generateKeyPairSync, randomUUID } from 'node:crypto'
import http from 'node:http'

import Provider from 'oidc-provider'

const options = JSON.parse(process.argv[2] ?? '{}')
const realmPath = `/realms/${options.realm ?? 'camunda'}`
const resource = options.resource
const clients = options.clients ?? []
const byId = new Map(clients.map((c) => [c.id, c]))

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' }
}

let keys = [newKey()]
let issuer = ''
let provider = null

function makeProvider() {
  const p = new Provider(issuer, {
    clients: clients.map((c) => ({
      client_id: c.id,
      client_secret: c.secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
    })),
    jwks: { keys },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => {
          if (indicator !== resource) throw new Error(`unknown resource ${indicator}`)
          return { audience: resource, scope: '', accessTokenFormat: 'jwt', accessTokenTTL: options.ttl ?? 300 }
        },
      },
    },
    async extraTokenClaims(ctx, token) {
      const client = byId.get(token.clientId)
      if (!client) return undefined
      return { permissions: { [resource]: client.permissions ?? [] }, tenants: client.tenants ?? [] }
    },
  })
  p.proxy = false
  return p
}

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/_test/rotate') {
    keys = [newKey(), ...keys]
    provider = makeProvider()
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ kid: keys[0].kid }))
    return
  }
  if (req.url === realmPath || req.url.startsWith(`${realmPath}/`)) {
    // Mounted as Express mounts it: the provider sees the path below the mount point and
    // finds the mount point from originalUrl.
    req.originalUrl = req.url
    req.url = req.url.slice(realmPath.length) || '/'
    provider.callback()(req, res)
    return
  }
  res.writeHead(404)
  res.end()
})

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address()
  issuer = `http://127.0.0.1:${port}${realmPath}`
  provider = makeProvider()
  process.stdout.write(`READY ${JSON.stringify({ issuer, port })}\n`)
})

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)))
}
