using System.Net;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Inventory;

public sealed class SrTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Created_sr_reads_back()
    {
        using var client = server.Client();
        using var created = await client.Post("/api/srs", new { nameLabel = "shared storage", shared = true });
        var id = await created.CreatedId();
        created.Headers.Location!.ToString().ShouldBe($"/api/srs/{id}");

        var read = await client.GetJson($"/api/srs/{id}");
        read.GetProperty("id").GetGuid().ShouldBe(id);
        read.GetProperty("nameLabel").GetString().ShouldBe("shared storage");
        read.GetProperty("shared").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task Sr_without_shared_is_local()
    {
        using var client = server.Client();
        using var created = await client.Post("/api/srs", new { nameLabel = "local" });
        var id = await created.CreatedId();

        var read = await client.GetJson($"/api/srs/{id}");
        read.GetProperty("shared").GetBoolean().ShouldBeFalse();
    }

    [Fact]
    public async Task Created_sr_is_in_the_list()
    {
        using var client = server.Client();
        var id = await client.CreateSr("listed");

        var list = await client.GetJson("/api/srs");
        list.EnumerateArray().Select(n => n.GetProperty("id").GetGuid()).ShouldContain(id);
    }

    [Fact]
    public async Task Sr_without_name_is_invalid_value()
    {
        using var client = server.Client();
        using var response = await client.Post("/api/srs", new { shared = true });
        var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "name_label", "");
        problem.GetProperty("errors").TryGetProperty("nameLabel", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Unknown_sr_is_handle_invalid()
    {
        using var client = server.Client();
        var id = Guid.NewGuid();
        using var response = await client.GetAsync($"/api/srs/{id}", ct);
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "SR", id.ToString());
    }

    [Theory]
    [InlineData("pool-operator")]
    [InlineData("vm-admin")]
    public async Task Only_pool_admin_creates_srs(string role)
    {
        using var client = await server.ClientWithRole(role);
        using var response = await client.Post("/api/srs", new { nameLabel = "sr", shared = true });
        await response.ShouldBeProblem(HttpStatusCode.Forbidden, "RBAC_PERMISSION_DENIED", "SR.create", role);
    }
}
