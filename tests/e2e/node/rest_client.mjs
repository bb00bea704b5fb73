// Runs @camunda8/orchestration-cluster-api (Camunda's REST client, 8.8) through a list of steps
// and prints one JSON line per step, for tests/e2e/test_rest_clients.py. The client is
// configured only from the environment, as an application would be (CAMUNDA_REST_ADDRESS,
// CAMUNDA_AUTH_STRATEGY=OAUTH, CAMUNDA_CLIENT_ID, CAMUNDA_CLIENT_SECRET, CAMUNDA_OAUTH_URL,
// CAMUNDA_TOKEN_AUDIENCE, CAMUNDA_SDK_VALIDATION), and fetches and refreshes its own token.
// Its fetch is wrapped only to record each exchange (method, path, status) for the test.
//
// With REST_CLIENT_ALLOW_H2=1 the process first sets Node's global fetch dispatcher to an undici
// `Agent({ allowH2: true })` (npm undici, the version Node 20 bundles for its fetch), as an
// application does to let fetch negotiate HTTP/2 by ALPN: over https the client then speaks h2
// where the server offers it (trusting a test CA through NODE_EXTRA_CA_CERTS), and HTTP/1.1
// elsewhere (the token endpoint on http). Node's fetch has no other way to HTTP/2 and none to h2c.
//
// Usage: node rest_client.mjs '<JSON array of steps>'
//   {"op": "topology"}
//   {"op": "create", "processDefinitionId": "order-process", "tenantId": "tenant-a"}  (tenantId optional)
//   {"op": "activate", "type": "payment"}
//   {"op": "publish", "name": "order-paid", "correlationKey": "42"}
//   {"op": "searchUserTasks"}
//   {"op": "worker", "type": "payment", "jobs": 1, "ms": 5000}
//       a job worker (REST activation) that completes jobs until it has `jobs` of them or `ms` pass
// Each result is a line `RESULT {"op", "ok", ...}`: on an error, what the SDK's user sees
// (`name`, `status`, `title`, `detail`, `message`); the exit code is 0 unless the driver itself broke.

import createCamundaClient from '@camunda8/orchestration-cluster-api'

if (process.env.REST_CLIENT_ALLOW_H2 === '1') {
  const { Agent, setGlobalDispatcher } = await import('undici')
  const { createRequire } = await import('node:module')
  const installed = createRequire(import.meta.url)('undici/package.json').version
  // Node's fetch drives the npm package's dispatcher: one handler interface, so one major line.
  if (installed.split('.')[0] !== process.versions.undici.split('.')[0]) {
    throw new Error(`npm undici ${installed} does not match the undici ${process.versions.undici} of this Node's fetch: pin the line Node bundles in package.json`)
  }
  setGlobalDispatcher(new Agent({ allowH2: true }))
}

const exchanges = []
const recordingFetch = async (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
  const method = init?.method ?? (input instanceof Request ? input.method : 'GET')
  const response = await fetch(input, init)
  exchanges.push({ method, path: new URL(url).pathname, status: response.status })
  return response
}

function sdkError(step, err) {
  return {
    op: step.op,
    ok: false,
    name: err?.name ?? null,
    status: err?.status ?? null,
    title: err?.title ?? null,
    detail: err?.detail ?? null,
    message: err?.message ?? String(err),
  }
}

async function runWorker(camunda, step) {
  const handled = []
  const seenFrom = exchanges.length
  return new Promise((resolve) => {
    let finished = false
    let worker
    const finish = async () => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      await worker.stopGracefully({ waitUpToMs: 2000 })
      const activations = exchanges
        .slice(seenFrom)
        .filter((e) => e.path.endsWith('/jobs/activation'))
        .map((e) => e.status)
      resolve({ op: 'worker', ok: true, jobs: handled, activations })
    }
    const timer = setTimeout(finish, step.ms ?? 5000)
    worker = camunda.createJobWorker({
      jobType: step.type,
      maxParallelJobs: 2,
      jobTimeoutMs: 30000,
      pollTimeoutMs: 1000,
      pollIntervalMs: 100,
      jobHandler: async (job) => {
        handled.push(job.jobKey)
        const receipt = await job.complete({ handled: true })
        if (handled.length >= (step.jobs ?? 1)) setImmediate(finish)
        return receipt
      },
    })
  })
}

async function runStep(camunda, step) {
  switch (step.op) {
    case 'topology': {
      const t = await camunda.getTopology()
      return { op: 'topology', ok: true, gatewayVersion: t.gatewayVersion, brokers: t.brokers.length }
    }
    case 'create': {
      const created = await camunda.createProcessInstance({
        processDefinitionId: step.processDefinitionId,
        ...(step.tenantId ? { tenantId: step.tenantId } : {}),
      })
      return { op: 'create', ok: true, processInstanceKey: created.processInstanceKey, tenantId: created.tenantId }
    }
    case 'activate': {
      const activated = await camunda.activateJobs({
        type: step.type,
        worker: 'rest-e2e',
        timeout: 30000,
        maxJobsToActivate: 1,
        requestTimeout: 500,
      })
      return { op: 'activate', ok: true, jobs: activated.jobs.map((j) => j.jobKey) }
    }
    case 'publish': {
      const published = await camunda.publishMessage({
        name: step.name,
        correlationKey: step.correlationKey ?? '42',
        timeToLive: 60000,
      })
      return { op: 'publish', ok: true, messageKey: published.messageKey ?? null }
    }
    case 'searchUserTasks': {
      // A search is eventually consistent: the client wants to be told how long to poll (not at all).
      const found = await camunda.searchUserTasks({}, { consistency: { waitUpToMs: 0 } })
      return { op: 'searchUserTasks', ok: true, items: found.items.length }
    }
    case 'worker':
      return runWorker(camunda, step)
    default:
      throw new Error(`unknown step ${JSON.stringify(step)}`)
  }
}

const steps = JSON.parse(process.argv[2] ?? '[]')
const camunda = createCamundaClient({ fetch: recordingFetch })
for (const step of steps) {
  let result
  try {
    result = await runStep(camunda, step)
  } catch (err) {
    result = sdkError(step, err)
  }
  console.log('RESULT ' + JSON.stringify(result))
}
console.log('EXCHANGES ' + JSON.stringify(exchanges))
camunda.stopAllWorkers()
process.exit(0)
