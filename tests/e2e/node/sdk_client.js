// Runs @camunda8/sdk's Zeebe gRPC client through a list of steps and prints one JSON line per
// step, for tests/e2e/test_real_clients.py. The client is configured only from the
// environment, as an application would be (ZEEBE_GRPC_ADDRESS, ZEEBE_CLIENT_ID,
// ZEEBE_CLIENT_SECRET, CAMUNDA_OAUTH_URL, ZEEBE_TOKEN_AUDIENCE, CAMUNDA_AUTH_STRATEGY), and
// fetches and refreshes its own token. Nothing here talks to anything but those addresses.
//
// Usage: node sdk_client.js '<JSON array of steps>'
//   {"op": "topology"}
//   {"op": "create", "bpmnProcessId": "order-process", "tenantId": "tenant-a"}  (tenantId optional)
//   {"op": "worker", "type": "payment", "jobs": 1, "ms": 5000}
//       a ZBWorker that completes jobs until it has `jobs` of them or a stream error, or `ms` pass
//   {"op": "sleep", "ms": 1000}
// Each result is a line `RESULT {"op", "ok", "code", "details", ...}` (the SDK logs to stdout
// too); the exit code is 0 unless a step threw
// something that is no gRPC error.

'use strict'

const { Camunda8 } = require('@camunda8/sdk')

function grpcError(step, err) {
  return { op: step.op, ok: false, code: err.code ?? null, details: err.details ?? err.message }
}

async function runWorker(zeebe, step) {
  return new Promise((resolve) => {
    const done = []
    const errors = []
    let finished = false
    let worker
    const finish = () => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      worker.close().then(() => resolve({ op: 'worker', ok: errors.length === 0, jobs: done, errors }))
    }
    const timer = setTimeout(finish, step.ms ?? 5000)
    worker = zeebe.createWorker({
      taskType: step.type,
      timeout: 30000,
      pollInterval: 100,
      longPoll: 1000,
      taskHandler: async (job) => {
        done.push(job.key)
        const ack = await job.complete({ handled: true })
        if (done.length >= (step.jobs ?? 1)) setImmediate(finish)
        return ack
      },
    })
    worker.on('streamError', (err) => {
      errors.push({ code: err.code ?? null, details: err.details ?? err.message })
      setImmediate(finish)
    })
  })
}

async function runStep(zeebe, step) {
  switch (step.op) {
    case 'topology': {
      const t = await zeebe.topology()
      return { op: step.op, ok: true, gatewayVersion: t.gatewayVersion, brokers: t.brokers.length }
    }
    case 'create': {
      const req = { bpmnProcessId: step.bpmnProcessId, variables: { orderId: 42 } }
      if (step.tenantId) req.tenantId = step.tenantId
      const r = await zeebe.createProcessInstance(req)
      return { op: step.op, ok: true, processInstanceKey: String(r.processInstanceKey), tenantId: r.tenantId }
    }
    case 'worker':
      return runWorker(zeebe, step)
    case 'sleep':
      await new Promise((r) => setTimeout(r, step.ms))
      return { op: step.op, ok: true }
    default:
      throw new Error(`unknown step ${JSON.stringify(step)}`)
  }
}

async function main() {
  const steps = JSON.parse(process.argv[2] ?? '[]')
  const c8 = new Camunda8()
  const zeebe = c8.getZeebeGrpcApiClient()
  try {
    for (const step of steps) {
      let result
      try {
        result = await runStep(zeebe, step)
      } catch (err) {
        if (err && typeof err.code !== 'number' && !err.details) throw err
        result = grpcError(step, err)
      }
      process.stdout.write('RESULT ' + JSON.stringify(result) + '\n')
    }
  } finally {
    await zeebe.close()
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`sdk_client: ${err && err.stack ? err.stack : err}\n`)
    process.exit(1)
  },
)
