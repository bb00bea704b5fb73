"""A stub Zeebe gateway: Camunda's generated `GatewayServicer` with canned answers.

It stands where `camunda-zeebe-gateway:26500` stands behind the sidecar, so a call that
reaches it was allowed by the authorizer. It records the rpc name, the invocation metadata
and the decoded request of every call, so tests can see the identity headers the authorizer
set and the fields (tenant, job type) the gateway itself would act on.

Real clients need a little more than canned answers: a job worker (`@camunda8/sdk`'s ZBWorker)
long-polls `ActivateJobs` in a loop, so with `long_poll=True` jobs come from a queue
(`offer_jobs`) and an empty queue holds the call open up to its `requestTimeout` (at most
`LONG_POLL_CAP` seconds), then ends it with no jobs, as the gateway does.

Run alone, it is a gateway for trying `serve --dev --envoy-config` without Zeebe:
`cd tests/e2e && ../../.venv/bin/python -m support.gateway 127.0.0.1:26500`.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import grpc
from zeebe_grpc import gateway_pb2 as pb
from zeebe_grpc import gateway_pb2_grpc as pb_grpc

from .loopback import LoopbackGrpcServer


@dataclass(frozen=True)
class ReceivedCall:
    rpc: str
    metadata: tuple[tuple[str, str | bytes], ...]
    # The request message as the gateway decoded it (None for calls recorded without one).
    request: Any = None

    def values(self, key: str) -> list[str | bytes]:
        """Every value of one metadata key, in order (gRPC keys are lower case)."""
        return [v for k, v in self.metadata if k == key.lower()]


# The longest an empty long poll is held (a worker's requestTimeout is often 30 s or more).
LONG_POLL_CAP = 2.0
# How often a held long poll looks at its queue and at whether the client went away.
LONG_POLL_TICK = 0.05


class StubGateway(LoopbackGrpcServer, pb_grpc.GatewayServicer):
    def __init__(self, *, long_poll: bool = False) -> None:
        self._lock = threading.Lock()
        self._calls: list[ReceivedCall] = []
        self.long_poll = long_poll
        # Queued jobs by type (long_poll mode), and the next job key.
        self._jobs: dict[str, int] = {}
        self._next_key = 2251799813685400
        self._jobs_changed = threading.Condition(self._lock)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, listen: str = "127.0.0.1:0") -> StubGateway:
        self._start_server(
            lambda server: pb_grpc.add_GatewayServicer_to_server(self, server), workers=8, listen=listen
        )
        return self

    # -- jobs (long_poll mode) ---------------------------------------------------------------

    def offer_jobs(self, job_type: str, count: int = 1) -> None:
        """Queues `count` jobs of `job_type` for the next ActivateJobs of that type."""
        with self._jobs_changed:
            self._jobs[job_type] = self._jobs.get(job_type, 0) + count
            self._jobs_changed.notify_all()

    def _take_jobs(self, request: pb.ActivateJobsRequest, context: grpc.ServicerContext) -> list[pb.ActivatedJob]:
        wanted = max(1, request.maxJobsToActivate)
        hold = min(max(request.requestTimeout, 0) / 1000.0, LONG_POLL_CAP)
        deadline = time.monotonic() + hold
        with self._jobs_changed:
            while not self._jobs.get(request.type) and context.is_active():
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._jobs_changed.wait(min(left, LONG_POLL_TICK))
            count = min(wanted, self._jobs.get(request.type, 0))
            self._jobs[request.type] = self._jobs.get(request.type, 0) - count
            keys = range(self._next_key, self._next_key + count)
            self._next_key += count
        tenant = request.tenantIds[0] if request.tenantIds else "<default>"
        return [
            pb.ActivatedJob(
                key=key,
                type=request.type,
                worker=request.worker,
                retries=3,
                variables="{}",
                customHeaders="{}",
                bpmnProcessId="order-process",
                processInstanceKey=2251799813685251,
                elementId="pay",
                tenantId=tenant,
                deadline=int(time.time() * 1000) + request.timeout,
            )
            for key in keys
        ]

    # -- what reached it ---------------------------------------------------------------------

    def calls(self) -> list[ReceivedCall]:
        with self._lock:
            return list(self._calls)

    def last_call(self) -> ReceivedCall:
        with self._lock:
            if not self._calls:
                raise AssertionError("no call reached the stub gateway")
            return self._calls[-1]

    def calls_of(self, rpc: str) -> list[ReceivedCall]:
        """The calls of one rpc that reached the gateway, in order."""
        return [call for call in self.calls() if call.rpc == rpc]

    def _record(self, rpc: str, context: grpc.ServicerContext, request: Any = None) -> None:
        metadata = tuple((m.key, m.value) for m in context.invocation_metadata())
        with self._lock:
            self._calls.append(ReceivedCall(rpc, metadata, request))

    # -- canned rpcs -------------------------------------------------------------------------

    def Topology(self, request, context):
        self._record("Topology", context, request)
        broker = pb.BrokerInfo(nodeId=0, host="zeebe-0", port=26501, version="8.4.13")
        broker.partitions.append(pb.Partition(partitionId=1, role=pb.Partition.LEADER))
        return pb.TopologyResponse(
            brokers=[broker], clusterSize=1, partitionsCount=1, replicationFactor=1, gatewayVersion="8.4.13"
        )

    def CreateProcessInstance(self, request, context):
        self._record("CreateProcessInstance", context, request)
        return pb.CreateProcessInstanceResponse(
            processDefinitionKey=2251799813685249,
            bpmnProcessId=request.bpmnProcessId,
            version=1,
            processInstanceKey=2251799813685251,
            tenantId=request.tenantId or "<default>",
        )

    def DeployResource(self, request, context):
        self._record("DeployResource", context, request)
        return pb.DeployResourceResponse(key=2251799813685248, tenantId=request.tenantId or "<default>")

    def PublishMessage(self, request, context):
        self._record("PublishMessage", context, request)
        return pb.PublishMessageResponse(key=2251799813685260, tenantId=request.tenantId or "<default>")

    def ActivateJobs(self, request, context):
        self._record("ActivateJobs", context, request)
        if self.long_poll:
            jobs = self._take_jobs(request, context)
            if jobs:
                yield pb.ActivateJobsResponse(jobs=jobs)
            return
        job = pb.ActivatedJob(key=2251799813685270, type=request.type, worker=request.worker, retries=3)
        yield pb.ActivateJobsResponse(jobs=[job])

    def CompleteJob(self, request, context):
        self._record("CompleteJob", context, request)
        return pb.CompleteJobResponse()

    def FailJob(self, request, context):
        self._record("FailJob", context, request)
        return pb.FailJobResponse()

    def CancelProcessInstance(self, request, context):
        self._record("CancelProcessInstance", context, request)
        return pb.CancelProcessInstanceResponse()

    def SetVariables(self, request, context):
        self._record("SetVariables", context, request)
        return pb.SetVariablesResponse(key=2251799813685280)

    def BroadcastSignal(self, request, context):
        self._record("BroadcastSignal", context, request)
        return pb.BroadcastSignalResponse(key=2251799813685290, tenantId=request.tenantId or "<default>")

    def CreateProcessInstanceWithResult(self, request, context):
        self._record("CreateProcessInstanceWithResult", context, request)
        return pb.CreateProcessInstanceWithResultResponse(
            processDefinitionKey=2251799813685249,
            bpmnProcessId=request.request.bpmnProcessId,
            version=1,
            processInstanceKey=2251799813685252,
            variables="{}",
            tenantId=request.request.tenantId or "<default>",
        )

    def EvaluateDecision(self, request, context):
        self._record("EvaluateDecision", context, request)
        return pb.EvaluateDecisionResponse(
            decisionKey=2251799813685300,
            decisionId=request.decisionId,
            decisionOutput="true",
            tenantId=request.tenantId or "<default>",
        )

    def DeployProcess(self, request, context):
        self._record("DeployProcess", context, request)
        return pb.DeployProcessResponse(key=2251799813685310)

    def StreamActivatedJobs(self, request, context):
        # A real gateway keeps this stream open and pushes jobs as they come; one job and the
        # end of the stream is enough to see that the call got through.
        self._record("StreamActivatedJobs", context, request)
        tenant = request.tenantIds[0] if request.tenantIds else "<default>"
        yield pb.ActivatedJob(
            key=2251799813685320, type=request.type, worker=request.worker, retries=3, tenantId=tenant
        )


def main(argv: list[str]) -> int:
    """Serves the stub on the address given (default 127.0.0.1:26500) until interrupted."""
    listen = argv[1] if len(argv) > 1 else "127.0.0.1:26500"
    gateway = StubGateway().start(listen)
    print(f"stub Zeebe gateway on {gateway.address} (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
