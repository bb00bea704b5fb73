package zeebeauthz;

import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import com.google.protobuf.UnknownFieldSet;
import com.google.protobuf.util.JsonFormat;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import gateway_protocol.GatewayGrpc;
import gateway_protocol.GatewayOuterClass.ActivateJobsRequest;
import gateway_protocol.GatewayOuterClass.ActivateJobsResponse;
import gateway_protocol.GatewayOuterClass.ActivatedJob;
import gateway_protocol.GatewayOuterClass.BrokerInfo;
import gateway_protocol.GatewayOuterClass.CreateProcessInstanceRequest;
import gateway_protocol.GatewayOuterClass.CreateProcessInstanceResponse;
import gateway_protocol.GatewayOuterClass.StreamActivatedJobsRequest;
import gateway_protocol.GatewayOuterClass.TopologyResponse;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.DecompressorRegistry;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.MethodDescriptor.PrototypeMarshaller;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A stub Zeebe gateway on the gateway's own parsing stack: grpc-java (Netty transport, the
 * default decompressor registry, so gzip as the real gateway has it) and protobuf-java, with
 * the messages generated from the project's proto/gateway.proto.
 *
 * <p>Every call that reaches it is recorded as grpc-java decoded it, after its own
 * decompression: the rpc, the request as protobuf JSON (every field grpc-java set: tenantId,
 * bpmnProcessId, type, name, decisionId, ...), the numbers of the fields protobuf-java kept as
 * unknown, and the request headers. The records are served as JSON by a small HTTP endpoint:
 *
 * <ul>
 *   <li>{@code GET /calls?since=N}: the records from the N-th on (a JSON array);
 *   <li>{@code POST /jobs?type=T&via=poll|stream&key=K}: queue a job of type T with key K for the
 *       next ActivateJobs (poll) or StreamActivatedJobs (stream) of that type;
 *   <li>{@code POST /mode?jobs=queue|canned}: in {@code queue} mode (a job worker's gateway)
 *       ActivateJobs long-polls the queued jobs (up to its requestTimeout, at most 1 s) and
 *       StreamActivatedJobs stays open, pushing queued jobs as they come; in {@code canned} mode
 *       (the default) each answers one job of the requested type at once and ends.
 * </ul>
 *
 * <p>On start it prints one line, {@code {"grpc": PORT, "http": PORT}}, both on 127.0.0.1 with
 * ephemeral ports; it stops when its stdin closes.
 */
public final class GatewayStub {
  private static final Context.Key<Metadata> HEADERS = Context.key("headers");
  // The longest an empty ActivateJobs is held (a worker's long poll).
  private static final long LONG_POLL_CAP_MS = 1000;

  private final List<String> records = new CopyOnWriteArrayList<>();
  private final Object jobsLock = new Object();
  private final Map<String, Deque<Long>> pollJobs = new HashMap<>();
  private final Map<String, Deque<Long>> streamJobs = new HashMap<>();
  private final List<OpenStream> openStreams = new ArrayList<>();
  // `queue` mode (a job worker's gateway): ActivateJobs long-polls the queued jobs and
  // StreamActivatedJobs stays open, pushing queued jobs. `canned` mode (the default): both answer
  // one job of the requested type at once and end, so a test can read the call to its end.
  private volatile boolean queueMode = false;

  private record OpenStream(String type, ServerCallStreamObserver<ActivatedJob> observer) {}

  public static void main(final String[] args) throws Exception {
    final GatewayStub stub = new GatewayStub();
    final ServerServiceDefinition service =
        ServerInterceptors.intercept(stub.service(), stub.headersInterceptor());
    final Server server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(service)
            // grpc-java's default registry: identity and gzip, as Zeebe's gateway has them.
            .decompressorRegistry(DecompressorRegistry.getDefaultInstance())
            // Zeebe's default maxMessageSize (4 MiB).
            .maxInboundMessageSize(4 * 1024 * 1024)
            .build()
            .start();
    final HttpServer http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    http.createContext("/calls", stub::serveCalls);
    http.createContext("/jobs", stub::serveJobs);
    http.createContext("/mode", stub::serveMode);
    http.start();
    System.out.println(
        "{\"grpc\": " + server.getPort() + ", \"http\": " + http.getAddress().getPort() + "}");
    System.out.flush();
    while (System.in.read() != -1) {
      // The test holds our stdin open while it needs us.
    }
    http.stop(0);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  // -- the service: every rpc of the generated descriptor ----------------------------------

  private ServerInterceptor headersInterceptor() {
    return new ServerInterceptor() {
      @Override
      public <Q, R> ServerCall.Listener<Q> interceptCall(
          final ServerCall<Q, R> call, final Metadata headers, final ServerCallHandler<Q, R> next) {
        return Contexts.interceptCall(
            Context.current().withValue(HEADERS, headers), call, headers, next);
      }
    };
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private ServerServiceDefinition service() {
    final ServiceDescriptor descriptor = GatewayGrpc.getServiceDescriptor();
    final ServerServiceDefinition.Builder builder = ServerServiceDefinition.builder(descriptor);
    for (final MethodDescriptor<?, ?> method : descriptor.getMethods()) {
      final MethodDescriptor<Message, Message> m = (MethodDescriptor<Message, Message>) method;
      final String rpc = m.getBareMethodName();
      final Message empty =
          (Message) ((PrototypeMarshaller<?>) m.getResponseMarshaller()).getMessagePrototype();
      if (m.getType() == MethodDescriptor.MethodType.SERVER_STREAMING) {
        builder.addMethod(
            ServerMethodDefinition.create(
                m,
                ServerCalls.asyncServerStreamingCall(
                    (request, observer) -> {
                      record(rpc, request);
                      stream(rpc, request, (StreamObserver) observer, empty);
                    })));
      } else {
        builder.addMethod(
            ServerMethodDefinition.create(
                m,
                ServerCalls.asyncUnaryCall(
                    (request, observer) -> {
                      record(rpc, request);
                      observer.onNext(unary(rpc, request, empty));
                      observer.onCompleted();
                    })));
      }
    }
    return builder.build();
  }

  private Message unary(final String rpc, final Message request, final Message empty) {
    switch (rpc) {
      case "Topology":
        return TopologyResponse.newBuilder()
            .addBrokers(
                BrokerInfo.newBuilder()
                    .setNodeId(0)
                    .setHost("zeebe-0")
                    .setPort(26501)
                    .setVersion("8.8.14")
                    .setUnknownFields(
                        // partitions (field 4): partition 1, leader, healthy.
                        UnknownFieldSet.newBuilder()
                            .addField(
                                4,
                                UnknownFieldSet.Field.newBuilder()
                                    // partitionId 1; role LEADER and health HEALTHY are 0.
                                    .addLengthDelimited(ByteString.copyFrom(new byte[] {0x08, 0x01}))
                                    .build())
                            .build()))
            .setClusterSize(1)
            .setPartitionsCount(1)
            .setReplicationFactor(1)
            .setGatewayVersion("8.8.14")
            .build();
      case "CreateProcessInstance":
        final CreateProcessInstanceRequest create = (CreateProcessInstanceRequest) request;
        return CreateProcessInstanceResponse.newBuilder()
            .setProcessDefinitionKey(2251799813685249L)
            .setBpmnProcessId(create.getBpmnProcessId())
            .setVersion(1)
            .setProcessInstanceKey(2251799813685251L)
            .setTenantId(create.getTenantId().isEmpty() ? "<default>" : create.getTenantId())
            .build();
      default:
        return empty;
    }
  }

  private void stream(
      final String rpc,
      final Message request,
      final StreamObserver<Message> observer,
      final Message empty) {
    if (rpc.equals("ActivateJobs")) {
      final ActivateJobsRequest activate = (ActivateJobsRequest) request;
      final List<Long> keys = queueMode ? takePollJobs(activate) : List.of(2251799813685270L);
      if (!keys.isEmpty()) {
        final ActivateJobsResponse.Builder response = ActivateJobsResponse.newBuilder();
        for (final long key : keys) {
          response.addJobs(job(key, activate.getType(), activate.getWorker(), activate.getTenantIdsList()));
        }
        observer.onNext(response.build());
      }
      observer.onCompleted();
    } else if (rpc.equals("StreamActivatedJobs")) {
      final StreamActivatedJobsRequest open = (StreamActivatedJobsRequest) request;
      if (!queueMode) {
        observer.onNext(job(2251799813685320L, open.getType(), open.getWorker(), open.getTenantIdsList()));
        observer.onCompleted();
        return;
      }
      final ServerCallStreamObserver<ActivatedJob> held =
          (ServerCallStreamObserver<ActivatedJob>) (StreamObserver<?>) observer;
      final OpenStream entry = new OpenStream(open.getType(), held);
      synchronized (jobsLock) {
        held.setOnCancelHandler(
            () -> {
              synchronized (jobsLock) {
                openStreams.remove(entry);
              }
            });
        openStreams.add(entry);
        pushStreamJobs();
      }
    } else {
      observer.onCompleted();
    }
  }

  private static ActivatedJob job(
      final long key, final String type, final String worker, final List<String> tenants) {
    return ActivatedJob.newBuilder()
        .setKey(key)
        .setType(type)
        .setWorker(worker)
        .setRetries(3)
        .setBpmnProcessId("order-process")
        .setProcessInstanceKey(2251799813685251L)
        .setVariables("{}")
        .setTenantId(tenants.isEmpty() ? "<default>" : tenants.get(0))
        .setUnknownFields(
            // customHeaders (field 9) and deadline (field 12) of Camunda's ActivatedJob, which
            // the project's proto leaves out: the Java client parses customHeaders as JSON.
            UnknownFieldSet.newBuilder()
                .addField(
                    9,
                    UnknownFieldSet.Field.newBuilder()
                        .addLengthDelimited(ByteString.copyFromUtf8("{}"))
                        .build())
                .addField(
                    12,
                    UnknownFieldSet.Field.newBuilder()
                        .addVarint(System.currentTimeMillis() + 300_000)
                        .build())
                .build())
        .build();
  }

  // -- jobs ---------------------------------------------------------------------------------

  private List<Long> takePollJobs(final ActivateJobsRequest request) {
    final long hold = Math.min(Math.max(request.getRequestTimeout(), 0), LONG_POLL_CAP_MS);
    final long deadline = System.currentTimeMillis() + hold;
    final List<Long> keys = new ArrayList<>();
    synchronized (jobsLock) {
      Deque<Long> queue = pollJobs.computeIfAbsent(request.getType(), t -> new ArrayDeque<>());
      while (queue.isEmpty()) {
        final long left = deadline - System.currentTimeMillis();
        if (left <= 0 || Context.current().isCancelled()) {
          return keys;
        }
        try {
          jobsLock.wait(Math.min(left, 50));
        } catch (final InterruptedException e) {
          Thread.currentThread().interrupt();
          return keys;
        }
      }
      final int wanted = Math.max(1, request.getMaxJobsToActivate());
      while (!queue.isEmpty() && keys.size() < wanted) {
        keys.add(queue.poll());
      }
    }
    return keys;
  }

  /** Pushes queued stream jobs to open streams of their type; holds jobsLock. */
  private void pushStreamJobs() {
    for (final OpenStream open : openStreams) {
      final Deque<Long> queue = streamJobs.get(open.type());
      while (queue != null && !queue.isEmpty() && !open.observer().isCancelled()) {
        open.observer().onNext(job(queue.poll(), open.type(), "stream", List.of()));
      }
    }
  }

  // -- records ------------------------------------------------------------------------------

  private void record(final String rpc, final Message request) {
    final Metadata headers = HEADERS.get();
    final Map<String, List<String>> metadata = new TreeMap<>();
    if (headers != null) {
      for (final String key : headers.keys()) {
        if (key.endsWith(Metadata.BINARY_HEADER_SUFFIX)) {
          continue;
        }
        final List<String> values = new ArrayList<>();
        headers.getAll(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER)).forEach(values::add);
        metadata.put(key, values);
      }
    }
    final List<Integer> unknown = new ArrayList<>(unknownFields(request));
    final StringBuilder json = new StringBuilder();
    try {
      json.append("{\"rpc\": ")
          .append(quote(rpc))
          .append(", \"request\": ")
          .append(JsonFormat.printer().omittingInsignificantWhitespace().print(request))
          .append(", \"unknown_fields\": ")
          .append(unknown)
          .append(", \"metadata\": {");
    } catch (final IOException e) {
      throw new IllegalStateException(e);
    }
    boolean first = true;
    for (final Map.Entry<String, List<String>> entry : metadata.entrySet()) {
      json.append(first ? "" : ", ").append(quote(entry.getKey())).append(": [");
      for (int i = 0; i < entry.getValue().size(); i++) {
        json.append(i == 0 ? "" : ", ").append(quote(entry.getValue().get(i)));
      }
      json.append(']');
      first = false;
    }
    json.append("}}");
    records.add(json.toString());
  }

  /** The numbers of the fields protobuf-java kept as unknown, here and in nested messages. */
  private static List<Integer> unknownFields(final Message message) {
    final List<Integer> numbers = new ArrayList<>(message.getUnknownFields().asMap().keySet());
    for (final Map.Entry<FieldDescriptor, Object> field : message.getAllFields().entrySet()) {
      if (field.getKey().getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
        if (field.getKey().isRepeated()) {
          for (final Object item : (List<?>) field.getValue()) {
            numbers.addAll(unknownFields((Message) item));
          }
        } else {
          numbers.addAll(unknownFields((Message) field.getValue()));
        }
      }
    }
    return numbers;
  }

  private static String quote(final String s) {
    final StringBuilder out = new StringBuilder("\"");
    for (final char c : s.toCharArray()) {
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        default -> {
          if (c < 0x20 || c == 0x7f) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.append('"').toString();
  }

  // -- the HTTP endpoint -------------------------------------------------------------------

  private static Map<String, String> query(final HttpExchange exchange) {
    final Map<String, String> params = new HashMap<>();
    final String raw = exchange.getRequestURI().getRawQuery();
    if (raw != null) {
      for (final String pair : raw.split("&")) {
        final int eq = pair.indexOf('=');
        if (eq > 0) {
          params.put(
              URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
              URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
        }
      }
    }
    return params;
  }

  private static void answer(final HttpExchange exchange, final int status, final String body)
      throws IOException {
    final byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("content-type", "application/json");
    exchange.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(bytes);
    }
  }

  private void serveCalls(final HttpExchange exchange) throws IOException {
    final int since = Integer.parseInt(query(exchange).getOrDefault("since", "0"));
    final List<String> snapshot = new ArrayList<>(records);
    answer(
        exchange,
        200,
        "[" + String.join(",\n", snapshot.subList(Math.min(since, snapshot.size()), snapshot.size())) + "]");
  }

  private void serveJobs(final HttpExchange exchange) throws IOException {
    final Map<String, String> q = query(exchange);
    final String type = q.get("type");
    final String via = q.getOrDefault("via", "poll");
    final long key = Long.parseLong(q.getOrDefault("key", "0"));
    if (type == null || !(via.equals("poll") || via.equals("stream"))) {
      answer(exchange, 400, "{\"error\": \"type and via=poll|stream required\"}");
      return;
    }
    synchronized (jobsLock) {
      (via.equals("poll") ? pollJobs : streamJobs)
          .computeIfAbsent(type, t -> new ArrayDeque<>())
          .add(key);
      jobsLock.notifyAll();
      pushStreamJobs();
    }
    answer(exchange, 200, "{}");
  }

  private void serveMode(final HttpExchange exchange) throws IOException {
    final String jobs = query(exchange).getOrDefault("jobs", "canned");
    if (!(jobs.equals("queue") || jobs.equals("canned"))) {
      answer(exchange, 400, "{\"error\": \"jobs=queue|canned\"}");
      return;
    }
    queueMode = jobs.equals("queue");
    answer(exchange, 200, "{}");
  }
}
