using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Http;

/// <summary>
/// One trace per command: the HTTP request, the slice's span, the placement decision and the host agent's work (handed
/// on through the event's "traceparent" header) share one trace id, and each carries the command's correlation id.
/// </summary>
public sealed class TracingTests(XapiServer server) : IClassFixture<XapiServer>
{
    [Fact]
    public async Task A_start_is_one_trace_from_the_request_to_the_agent_steps()
    {
        var ct = TestContext.Current.CancellationToken;
        var correlation = "trace-" + Guid.NewGuid().ToString("N");
        var spans = new ConcurrentQueue<Activity>();
        var agentDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "Xapi.Cqrs" or "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                if (a.GetTagItem("xapi.correlation_id") as string != correlation)
                {
                    return;
                }

                spans.Enqueue(a);
                if (a.OperationName == "xapi.agent.Start")
                {
                    agentDone.TrySetResult();
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        using var client = server.Client();
        await client.CreateHost();
        var vm = await client.CreateVm();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/vms/{vm}/start");
        request.Headers.Add("X-Correlation-Id", correlation);
        using var response = await client.SendAsync(request, ct);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync(ct));
        await agentDone.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);

        var names = spans.Select(s => s.OperationName).ToList();
        names.ShouldContain("StartVm.Command");
        names.ShouldContain("xapi.start.decide");
        names.ShouldContain("xapi.agent.Start");
        spans.ShouldContain(s => s.Source.Name == "Microsoft.AspNetCore", $"the request's span carries the correlation id; spans: {string.Join(", ", names)}");
        var trace = spans.Single(s => s.Source.Name == "Microsoft.AspNetCore").TraceId;
        spans.ShouldAllBe(s => s.TraceId == trace, $"one trace: {string.Join(", ", spans.Select(s => $"{s.OperationName}={s.TraceId}"))}");
        var agent = spans.Single(s => s.OperationName == "xapi.agent.Start");
        agent.ParentSpanId.ShouldNotBe(default, "the agent's span continues the command's trace");
        names.ShouldContain(n => n.StartsWith("ReportStart.", StringComparison.Ordinal), "the agent's reports are spans of the same trace");
    }
}
