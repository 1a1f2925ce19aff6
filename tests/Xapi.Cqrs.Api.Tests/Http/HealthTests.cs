using System.Net;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Http;

public sealed class HealthTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Health_answers_ok_without_a_token()
    {
        using var client = server.Client(token: null);
        using var response = await client.GetAsync("/health", ct);

        var text = await response.Content.ReadAsStringAsync(ct);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        (response.Content.Headers.ContentType?.MediaType).ShouldBe("application/json");
        var body = JsonDocument.Parse(text).RootElement;
        body.GetProperty("status").GetString().ShouldBe("ok");
    }

    [Fact]
    public async Task Health_ignores_an_unknown_token()
    {
        using var client = server.Client("not-a-token");
        using var response = await client.GetAsync("/health", ct);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Api_next_to_health_still_needs_a_token()
    {
        using var client = server.Client(token: null);
        using var response = await client.GetAsync("/api/hosts", ct);
        await response.ShouldBeProblemWithCode(HttpStatusCode.Unauthorized, "SESSION_AUTHENTICATION_FAILED");
    }
}
