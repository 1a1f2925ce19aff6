using System.Net;
using System.Net.Http.Json;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Http;

public sealed class CorrelationTests(XapiServer server) : IClassFixture<XapiServer>
{
    private const string Header = "X-Correlation-Id";
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    private static string Single(HttpResponseMessage response) => response.Headers.GetValues(Header).ShouldHaveSingleItem();

    [Fact]
    public async Task Given_correlation_id_is_echoed()
    {
        using var client = server.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/vms");
        request.Headers.Add(Header, "abc-123.x:y_z");
        using var response = await client.SendAsync(request, ct);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        Single(response).ShouldBe("abc-123.x:y_z");
    }

    [Fact]
    public async Task Missing_correlation_id_is_generated_fresh_per_request()
    {
        using var client = server.Client();
        using var first = await client.GetAsync("/api/vms", ct);
        using var second = await client.GetAsync("/api/vms", ct);

        Single(first).ShouldNotBeNullOrWhiteSpace();
        Single(first).Length.ShouldBeGreaterThanOrEqualTo(16);
        Single(second).ShouldNotBe(Single(first));
    }

    [Fact]
    public async Task Malformed_correlation_id_is_replaced()
    {
        using var client = server.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/vms");
        request.Headers.TryAddWithoutValidation(Header, "has spaces and <script>");
        using var response = await client.SendAsync(request, ct);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        Single(response).ShouldNotBe("has spaces and <script>");
        Single(response).ShouldNotContain(" ");
    }

    [Fact]
    public async Task Correlation_id_is_echoed_on_refusals()
    {
        using var client = server.Client(token: null);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/vms");
        request.Headers.Add(Header, "unauth-1");
        using var response = await client.SendAsync(request, ct);

        var problem = await response.ShouldBeProblemWithCode(HttpStatusCode.Unauthorized, "SESSION_AUTHENTICATION_FAILED");
        Single(response).ShouldBe("unauth-1");
        problem.GetProperty("correlationId").GetString().ShouldBe("unauth-1");
    }

    [Fact]
    public async Task Command_events_record_the_correlation_id_and_the_actor()
    {
        using var client = server.Client();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/networks") { Content = JsonContent.Create(new { nameLabel = "traced" }) };
        request.Headers.Add(Header, "trace-42");
        using var response = await client.SendAsync(request, ct);
        var id = await response.CreatedId();
        Single(response).ShouldBe("trace-42");

        await using var session = server.Services.GetRequiredService<IDocumentStore>().QuerySession();
        var events = await session.Events.FetchStreamAsync(id, token: ct);
        events.ShouldNotBeEmpty();
        events.ShouldAllBe(e => e.CorrelationId == "trace-42");
        events[0].Headers!["actor"].ToString().ShouldBe("admin");
    }

    [Fact]
    public async Task Generated_correlation_id_is_the_one_recorded()
    {
        using var client = server.Client();
        using var response = await client.Post("/api/srs", new { nameLabel = "traced-sr", shared = false });
        var id = await response.CreatedId();

        await using var session = server.Services.GetRequiredService<IDocumentStore>().QuerySession();
        var events = await session.Events.FetchStreamAsync(id, token: ct);
        events.ShouldNotBeEmpty();
        events[0].CorrelationId.ShouldBe(Single(response));
    }
}
