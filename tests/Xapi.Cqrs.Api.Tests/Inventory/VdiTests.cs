using System.Net;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Inventory;

public sealed class VdiTests(XapiServer server) : IClassFixture<XapiServer>
{
    private const long GiB = InventoryRequests.GiB;
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Created_vdi_reads_back()
    {
        using var client = server.Client();
        var sr = await client.CreateSr();
        using var created = await client.Post("/api/vdis", new { srId = sr, nameLabel = "root disk", virtualSize = 20 * GiB, readOnly = true, sharable = true });
        var id = await created.CreatedId();
        created.Headers.Location!.ToString().ShouldBe($"/api/vdis/{id}");

        var read = await client.GetJson($"/api/vdis/{id}");
        read.GetProperty("id").GetGuid().ShouldBe(id);
        read.GetProperty("srId").GetGuid().ShouldBe(sr);
        read.GetProperty("nameLabel").GetString().ShouldBe("root disk");
        read.GetProperty("virtualSize").GetInt64().ShouldBe(20 * GiB);
        read.GetProperty("readOnly").GetBoolean().ShouldBeTrue();
        read.GetProperty("sharable").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task Vdi_defaults_to_read_write_and_not_sharable()
    {
        using var client = server.Client();
        var sr = await client.CreateSr();
        using var created = await client.Post("/api/vdis", new { srId = sr, nameLabel = "plain", virtualSize = GiB });
        var id = await created.CreatedId();

        var read = await client.GetJson($"/api/vdis/{id}");
        read.GetProperty("readOnly").GetBoolean().ShouldBeFalse();
        read.GetProperty("sharable").GetBoolean().ShouldBeFalse();
    }

    [Fact]
    public async Task Created_vdi_is_in_the_list()
    {
        using var client = server.Client();
        var id = await client.CreateVdi(nameLabel: "listed");

        var list = await client.GetJson("/api/vdis");
        list.EnumerateArray().Select(n => n.GetProperty("id").GetGuid()).ShouldContain(id);
    }

    [Fact]
    public async Task Negative_virtual_size_is_invalid_value()
    {
        using var client = server.Client();
        var sr = await client.CreateSr();
        using var response = await client.Post("/api/vdis", new { srId = sr, nameLabel = "disk", virtualSize = -1 });
        var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "virtual_size", "-1");
        problem.GetProperty("errors").GetProperty("virtualSize").GetArrayLength().ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task Zero_virtual_size_is_invalid_value()
    {
        using var client = server.Client();
        var sr = await client.CreateSr();
        using var response = await client.Post("/api/vdis", new { srId = sr, nameLabel = "disk", virtualSize = 0 });
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "virtual_size", "0");
    }

    [Fact]
    public async Task Vdi_without_sr_is_invalid_value()
    {
        using var client = server.Client();
        using var response = await client.Post("/api/vdis", new { nameLabel = "disk", virtualSize = GiB });
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "SR", "");
    }

    [Fact]
    public async Task Vdi_in_an_unknown_sr_is_handle_invalid()
    {
        using var client = server.Client();
        var sr = Guid.NewGuid();
        using var response = await client.Post("/api/vdis", new { srId = sr, nameLabel = "disk", virtualSize = GiB });
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "SR", sr.ToString());
    }

    [Fact]
    public async Task Unknown_vdi_is_handle_invalid()
    {
        using var client = server.Client();
        var id = Guid.NewGuid();
        using var response = await client.GetAsync($"/api/vdis/{id}", ct);
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VDI", id.ToString());
    }

    [Theory]
    [InlineData("pool-operator")]
    [InlineData("vm-admin")]
    public async Task Only_pool_admin_creates_vdis(string role)
    {
        using var admin = server.Client();
        var sr = await admin.CreateSr();
        using var client = await server.ClientWithRole(role);
        using var response = await client.Post("/api/vdis", new { srId = sr, nameLabel = "disk", virtualSize = GiB });
        await response.ShouldBeProblem(HttpStatusCode.Forbidden, "RBAC_PERMISSION_DENIED", "VDI.create", role);
    }
}
