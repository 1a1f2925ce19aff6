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

    [Fact]
    public async Task Created_network_answers_its_location_and_version()
    {
        using var client = server.Client();
        using var created = await client.Post("/api/networks", new { nameLabel = "located" });
        var id = await created.CreatedId();
        created.Headers.Location!.ToString().ShouldBe($"/api/networks/{id}");
        var body = await created.Content.ReadFromJsonAsync<JsonElement>(ct);
        body.GetProperty("version").GetInt64().ShouldBe(1);
    }

    [Fact]
    public async Task Network_without_bridge_gets_a_generated_bridge_name()
    {
        using var client = server.Client();
        var id = await client.CreateNetwork("no-bridge");

        var read = await client.GetJson($"/api/networks/{id}");
        read.GetProperty("bridge").GetString().ShouldBe("xapi" + id.ToString("N")[..8]);
    }

    [Fact]
    public async Task Created_network_is_in_the_list()
    {
        using var client = server.Client();
        var id = await client.CreateNetwork("listed");

        var list = await client.GetJson("/api/networks");
        list.EnumerateArray().Select(n => n.GetProperty("id").GetGuid()).ShouldContain(id);
    }

    [Fact]
    public async Task Network_with_empty_name_is_invalid_value()
    {
        using var client = server.Client();
        using var response = await client.Post("/api/networks", new { nameLabel = "" });
        var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "name_label", "");
        problem.GetProperty("errors").TryGetProperty("nameLabel", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Network_with_a_slash_in_the_bridge_is_invalid_value()
    {
        using var client = server.Client();
        using var response = await client.Post("/api/networks", new { nameLabel = "net", bridge = "br/0" });
        var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "bridge", "br/0");
        problem.GetProperty("errors").TryGetProperty("bridge", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Unknown_network_is_handle_invalid()
    {
        using var client = server.Client();
        var id = Guid.NewGuid();
        using var response = await client.GetAsync($"/api/networks/{id}", ct);
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "network", id.ToString());
    }

    [Fact]
    public async Task Read_only_may_read_networks()
    {
        using var admin = server.Client();
        var id = await admin.CreateNetwork("readable");
        using var reader = await server.ClientWithRole("read-only");

        var read = await reader.GetJson($"/api/networks/{id}");
        read.GetProperty("nameLabel").GetString().ShouldBe("readable");
    }

    [Theory]
    [InlineData("pool-operator")]
    [InlineData("vm-admin")]
    [InlineData("read-only")]
    public async Task Only_pool_admin_creates_networks(string role)
    {
        using var client = await server.ClientWithRole(role);
        using var response = await client.Post("/api/networks", new { nameLabel = "net" });
        await response.ShouldBeProblem(HttpStatusCode.Forbidden, "RBAC_PERMISSION_DENIED", "network.create", role);
    }
}
