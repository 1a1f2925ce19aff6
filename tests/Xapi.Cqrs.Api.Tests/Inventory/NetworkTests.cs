using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Inventory;

public sealed class NetworkTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Created_network_reads_back()
    {
        using var client = server.Client();
        var created = await client.PostAsJsonAsync("/api/networks", new { nameLabel = "net0", bridge = "xenbr9" }, ct);
        created.StatusCode.ShouldBe(HttpStatusCode.Created);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("id").GetGuid();

        var read = await client.GetFromJsonAsync<JsonElement>($"/api/networks/{id}", ct);
        read.GetProperty("nameLabel").GetString().ShouldBe("net0");
        read.GetProperty("bridge").GetString().ShouldBe("xenbr9");
    }

    [Fact]
    public async Task Network_without_token_is_401()
    {
        using var client = server.Client(token: null);
        var response = await client.PostAsJsonAsync("/api/networks", new { nameLabel = "net0" }, ct);
        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }
}
