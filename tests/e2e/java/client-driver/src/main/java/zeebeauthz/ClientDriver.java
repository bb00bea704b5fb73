package zeebeauthz;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.camunda.client.CamundaClient;
import io.camunda.client.api.command.ClientHttpException;
import io.camunda.client.api.command.ClientStatusException;
import io.camunda.client.api.command.ProblemException;
import io.camunda.client.api.response.ActivatedJob;
import io.camunda.client.api.response.ProcessInstanceEvent;
import io.camunda.client.api.response.Topology;
import io.camunda.client.api.worker.JobWorker;
import io.camunda.client.impl.oauth.OAuthCredentialsProviderBuilder;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Camunda's Java client (camunda-client-java), in gRPC mode or in its default REST mode, with
 * its own OAuth flow (client credentials at a token endpoint), driven by
 * tests/e2e/test_java_client.py (gRPC) and tests/e2e/test_rest_clients.py (REST).
 *
 * <p>With {@code CAMUNDA_REST_ADDRESS} set (http://host:port, Envoy's REST listener) the client
 * runs as 8.8 ships it: {@code preferRestOverGrpc} true, so topology, instance creation and job
 * activation and completion go to {@code /v2}; job streaming (gRPC only) is off. Without it, gRPC
 * mode.
 *
 * <p>Settings come from the environment: {@code ZEEBE_GRPC_ADDRESS} (http://host:port, Envoy),
 * {@code CAMUNDA_TOKEN_URL}, {@code CAMUNDA_CLIENT_ID}, {@code CAMUNDA_CLIENT_SECRET}, {@code
 * CAMUNDA_AUDIENCE}, {@code CAMUNDA_CREDENTIALS_CACHE} (the token cache file; a test's own) and
 * optionally {@code CAMUNDA_TENANT_ID} (the client's default tenant).
 *
 * <p>Each argument is one scenario, run in order; each prints one JSON line with {@code
 * "scenario"}, {@code "ok"} and either its results or, when the client threw, the gRPC status
 * code and the exception's message as the Java user sees them:
 *
 * <ul>
 *   <li>{@code topology}
 *   <li>{@code create-instance:PROCESS}
 *   <li>{@code activate:TYPE} (one ActivateJobs command)
 *   <li>{@code stream:TYPE:SECONDS} (a StreamActivatedJobs command; the jobs pushed within SECONDS)
 *   <li>{@code worker:TYPE:JOBS:SECONDS} (a job worker, streaming and polling; it completes each
 *       job it gets, and stops after JOBS jobs or SECONDS)
 *   <li>{@code publish:NAME} (a PublishMessage command, correlation key 42)
 * </ul>
 *
 * <p>A REST failure is described as the Java user sees it: the HTTP status ({@code "status"})
 * and the problem detail's {@code "title"} and {@code "detail"}.
 */
public final class ClientDriver {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(10);

  public static void main(final String[] args) throws Exception {
    try (CamundaClient client = client()) {
      for (final String scenario : args) {
        final Map<String, Object> out = new LinkedHashMap<>();
        out.put("scenario", scenario);
        try {
          out.putAll(run(client, scenario.split(":")));
          out.put("ok", true);
        } catch (final Throwable e) {
          out.put("ok", false);
          describe(unwrap(e), out);
        }
        System.out.println(JSON.writeValueAsString(out));
        System.out.flush();
      }
    }
    // A scenario's failure is a result (the test reads it); only a driver crash exits non-zero.
    System.exit(0);
  }

  /** REST mode: the client's default since 8.8 (CAMUNDA_REST_ADDRESS set). */
  private static final boolean REST = System.getenv("CAMUNDA_REST_ADDRESS") != null;

  private static CamundaClient client() {
    final String tenant = System.getenv("CAMUNDA_TENANT_ID");
    final var builder =
        CamundaClient.newClientBuilder()
            .grpcAddress(URI.create(env("ZEEBE_GRPC_ADDRESS")))
            // In gRPC mode not used, but the builder wants one.
            .restAddress(URI.create(REST ? env("CAMUNDA_REST_ADDRESS") : "http://127.0.0.1:1"))
            .preferRestOverGrpc(REST)
            .defaultRequestTimeout(REQUEST_TIMEOUT)
            .credentialsProvider(
                new OAuthCredentialsProviderBuilder()
                    .authorizationServerUrl(env("CAMUNDA_TOKEN_URL"))
                    .clientId(env("CAMUNDA_CLIENT_ID"))
                    .clientSecret(env("CAMUNDA_CLIENT_SECRET"))
                    .audience(env("CAMUNDA_AUDIENCE"))
                    .credentialsCachePath(env("CAMUNDA_CREDENTIALS_CACHE"))
                    .build());
    if (tenant != null && !tenant.isEmpty()) {
      builder.defaultTenantId(tenant).defaultJobWorkerTenantIds(List.of(tenant));
    }
    return builder.build();
  }

  private static String env(final String name) {
    final String value = System.getenv(name);
    if (value == null || value.isEmpty()) {
      throw new IllegalArgumentException(name + " is not set");
    }
    return value;
  }

  private static Map<String, Object> run(final CamundaClient client, final String[] s)
      throws Exception {
    final Map<String, Object> out = new LinkedHashMap<>();
    switch (s[0]) {
      case "topology" -> {
        final var request = client.newTopologyRequest();
        final Topology topology = (REST ? request.useRest() : request.useGrpc()).send().join();
        out.put("gatewayVersion", topology.getGatewayVersion());
        out.put("brokers", topology.getBrokers().size());
        out.put("partitions", topology.getPartitionsCount());
      }
      case "create-instance" -> {
        final ProcessInstanceEvent event =
            client
                .newCreateInstanceCommand()
                .bpmnProcessId(s[1])
                .latestVersion()
                .variables(Map.of("orderId", 42))
                .send()
                .join();
        out.put("processInstanceKey", event.getProcessInstanceKey());
        out.put("bpmnProcessId", event.getBpmnProcessId());
        out.put("tenantId", event.getTenantId());
      }
      case "activate" -> {
        final List<Long> keys = new ArrayList<>();
        for (final ActivatedJob job :
            client
                .newActivateJobsCommand()
                .jobType(s[1])
                .maxJobsToActivate(5)
                .requestTimeout(Duration.ofMillis(500))
                .send()
                .join()
                .getJobs()) {
          keys.add(job.getKey());
        }
        out.put("jobs", keys);
      }
      case "stream" -> {
        final List<Long> keys = new CopyOnWriteArrayList<>();
        final CompletableFuture<?> stream =
            client
                .newStreamJobsCommand()
                .jobType(s[1])
                .consumer(job -> keys.add(job.getKey()))
                .send()
                .toCompletableFuture();
        try {
          stream.get(Long.parseLong(s[2]), TimeUnit.SECONDS);
        } catch (final TimeoutException stillOpen) {
          // An open stream is the normal case: it ended neither in error nor at all.
          stream.cancel(true);
        }
        out.put("jobs", keys);
      }
      case "worker" -> {
        final int wanted = Integer.parseInt(s[2]);
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(s[3]));
        final List<Map<String, Object>> handled = new CopyOnWriteArrayList<>();
        try (JobWorker worker =
            client
                .newWorker()
                .jobType(s[1])
                .handler(
                    (jobClient, job) -> {
                      jobClient.newCompleteCommand(job.getKey()).send().join();
                      handled.add(Map.of("key", job.getKey(), "type", job.getType()));
                    })
                .name("java-e2e-worker")
                .maxJobsActive(4)
                .pollInterval(Duration.ofMillis(100))
                .requestTimeout(Duration.ofMillis(500))
                // Job streaming is gRPC only.
                .streamEnabled(!REST)
                .open()) {
          while (handled.size() < wanted && System.nanoTime() < deadline) {
            Thread.sleep(50); // the worker's own threads do the work; this only waits for them
          }
          out.put("open", worker.isOpen());
        }
        out.put("handled", handled);
      }
      case "publish" -> {
        final var published =
            client
                .newPublishMessageCommand()
                .messageName(s[1])
                .correlationKey("42")
                .timeToLive(Duration.ofMinutes(1))
                .send()
                .join();
        out.put("messageKey", published.getMessageKey());
      }
      default -> throw new IllegalArgumentException("unknown scenario " + String.join(":", s));
    }
    return out;
  }

  private static Throwable unwrap(Throwable e) {
    while ((e instanceof ExecutionException || e instanceof java.util.concurrent.CompletionException)
        && e.getCause() != null) {
      e = e.getCause();
    }
    return e;
  }

  private static void describe(final Throwable e, final Map<String, Object> out) {
    out.put("exception", e.getClass().getName());
    out.put("message", e.getMessage());
    if (e instanceof ProblemException problem) {
      out.put("status", problem.code());
      if (problem.details() != null) {
        out.put("title", problem.details().getTitle());
        out.put("detail", problem.details().getDetail());
      }
    } else if (e instanceof ClientHttpException http) {
      out.put("status", http.code());
      out.put("reason", http.reason());
    } else if (e instanceof ClientStatusException status) {
      out.put("code", status.getStatusCode().name());
      out.put("description", status.getStatus().getDescription());
    } else if (e instanceof io.grpc.StatusRuntimeException status) {
      out.put("code", status.getStatus().getCode().name());
      out.put("description", status.getStatus().getDescription());
    }
  }
}
