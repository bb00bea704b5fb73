"""A stub Zeebe gateway: Camunda's generated `GatewayServicer` with canned answers.

It stands where `camunda-zeebe-gateway:26500` stands behind the sidecar, so a call that
reaches it was allowed by the authorizer. It records the rpc name, the invocation metadata
and the decoded request of every call, so tests can see the identity headers the authorizer
set and the fields (tenant, job type) the gateway itself would act on.
"""

from __future__ import annotations

import threading
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


class StubGateway(LoopbackGrpcServer, pb_grpc.GatewayServicer):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[ReceivedCall] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> StubGateway:
        self._start_server(lambda server: pb_grpc.add_GatewayServicer_to_server(self, server), workers=8)
        return self

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
