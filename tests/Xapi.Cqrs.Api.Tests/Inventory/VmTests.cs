using System.Net;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Inventory;

public sealed class VmTests(XapiServer server) : IClassFixture<XapiServer>
{
    private const long GiB = InventoryRequests.GiB;
    private const long MiB = InventoryRequests.MiB;
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Created_vm_reads_back_halted()
    {
        using var client = server.Client();
        using var created = await client.Post("/api/vms", InventoryRequests.VmBody(
            ("nameLabel", "web01"), ("vcpusMax", 4), ("vcpusAtStartup", 2),
            ("memoryStaticMin", 512 * MiB), ("memoryDynamicMin", GiB), ("memoryDynamicMax", 2 * GiB), ("memoryStaticMax", 4 * GiB)));
        var id = await created.CreatedId();
        created.Headers.Location!.ToString().ShouldBe($"/api/vms/{id}");

        var read = await client.GetJson($"/api/vms/{id}");
        read.GetProperty("id").GetGuid().ShouldBe(id);
        read.GetProperty("nameLabel").GetString().ShouldBe("web01");
        read.GetProperty("powerState").GetString().ShouldBe("Halted");
        read.GetProperty("vcpusMax").GetInt64().ShouldBe(4);
        read.GetProperty("vcpusAtStartup").GetInt64().ShouldBe(2);
        read.GetProperty("memoryStaticMin").GetInt64().ShouldBe(512 * MiB);
        read.GetProperty("memoryDynamicMin").GetInt64().ShouldBe(GiB);
        read.GetProperty("memoryDynamicMax").GetInt64().ShouldBe(2 * GiB);
        read.GetProperty("memoryStaticMax").GetInt64().ShouldBe(4 * GiB);
        read.GetProperty("domainType").GetString().ShouldBe("hvm");
        read.GetProperty("residentOn").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
        read.GetProperty("currentOperations").EnumerateObject().ShouldBeEmpty();
        read.GetProperty("vbds").GetArrayLength().ShouldBe(0);
        read.GetProperty("vifs").GetArrayLength().ShouldBe(0);
        read.GetProperty("version").GetInt64().ShouldBe(1);
    }

    [Fact]
    public async Task Created_vm_keeps_its_optional_fields()
    {
        using var client = server.Client();
        var host = await client.CreateHost();
        var id = await client.CreateVm(
            ("domainType", "pv"), ("affinity", host), ("actionsAfterCrash", "destroy"), ("hvmShadowMultiplier", 2.0),
            ("blockedOperations", new Dictionary<string, string> { ["start"] = "NOPE" }), ("haRestartPriority", "restart"),
            ("otherConfig", new Dictionary<string, string> { ["owner"] = "team-a" }));

        var read = await client.GetJson($"/api/vms/{id}");
        read.GetProperty("domainType").GetString().ShouldBe("pv");
        read.GetProperty("affinity").GetGuid().ShouldBe(host);
        read.GetProperty("actionsAfterCrash").GetString().ShouldBe("destroy");
        read.GetProperty("hvmShadowMultiplier").GetDouble().ShouldBe(2.0);
        read.GetProperty("blockedOperations").GetProperty("start").GetString().ShouldBe("NOPE");
        read.GetProperty("haRestartPriority").GetString().ShouldBe("restart");
        read.GetProperty("otherConfig").GetProperty("owner").GetString().ShouldBe("team-a");
    }

    [Fact]
    public async Task Created_vm_is_in_the_list()
    {
        using var client = server.Client();
        var id = await client.CreateVm(("nameLabel", "listed"));

        var list = await client.GetJson("/api/vms");
        list.EnumerateArray().Select(n => n.GetProperty("id").GetGuid()).ShouldContain(id);
        var halted = await client.GetJson("/api/vms?powerState=Halted");
        halted.EnumerateArray().Select(n => n.GetProperty("id").GetGuid()).ShouldContain(id);
        var running = await client.GetJson("/api/vms?powerState=Running");
        running.EnumerateArray().Select(n => n.GetProperty("id").GetGuid()).ShouldNotContain(id);
    }

    [Fact]
    public async Task Memory_out_of_order_is_memory_constraint_violation_order()
    {
        using var client = server.Client();
        using var response = await client.Post("/api/vms", InventoryRequests.VmBody(("memoryDynamicMin", 2 * GiB)));
        var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest, "MEMORY_CONSTRAINT_VIOLATION_ORDER");
        problem.GetProperty("errors").EnumerateObject().ShouldNotBeEmpty();
    }

    [Fact]
    public async Task More_vcpus_at_startup_than_max_is_value_not_supported()
    {
        using var client = server.Client();
        using var response = await client.Post("/api/vms", InventoryRequests.VmBody(("vcpusAtStartup", 4)));
        var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest, "VALUE_NOT_SUPPORTED", "VCPUs-at-startup", "4", "value greater than VCPUs-max");
        problem.GetProperty("errors").TryGetProperty("vcpusAtStartup", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Negative_memory_is_invalid_value()
    {
        using var client = server.Client();
        using var response = await client.Post("/api/vms", InventoryRequests.VmBody(("memoryStaticMin", -1)));
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "memory_static_min", "-1");
    }

    [Fact]
    public async Task Unknown_domain_type_is_value_not_supported()
    {
        using var client = server.Client();
        using var response = await client.Post("/api/vms", InventoryRequests.VmBody(("domainType", "xen")));
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "VALUE_NOT_SUPPORTED", "domain_type", "xen", "one of hvm, pv, pvh, pv_in_pvh");
    }

    [Fact]
    public async Task Every_failing_field_is_listed_in_errors()
    {
        using var client = server.Client();
        using var response = await client.Post("/api/vms", InventoryRequests.VmBody(("nameLabel", ""), ("vcpusMax", 0), ("memoryStaticMin", -1)));
        var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "name_label", "");
        var fields = problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).ToList();
        fields.ShouldContain("nameLabel");
        fields.ShouldContain("vcpusMax");
        fields.ShouldContain("memoryStaticMin");
    }

    [Fact]
    public async Task Affinity_to_an_unknown_host_is_handle_invalid()
    {
        using var client = server.Client();
        var host = Guid.NewGuid();
        using var response = await client.Post("/api/vms", InventoryRequests.VmBody(("affinity", host)));
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "host", host.ToString());
    }

    [Fact]
    public async Task Unknown_vm_is_handle_invalid()
    {
        using var client = server.Client();
        var id = Guid.NewGuid();
        using var response = await client.GetAsync($"/api/vms/{id}", ct);
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VM", id.ToString());
    }

    [Fact]
    public async Task Read_only_may_read_vms_but_not_create_one()
    {
        using var admin = server.Client();
        var id = await admin.CreateVm(("nameLabel", "seen"));
        using var reader = await server.ClientWithRole("read-only");

        (await reader.GetJson($"/api/vms/{id}")).GetProperty("nameLabel").GetString().ShouldBe("seen");
        (await reader.GetJson("/api/vms")).GetArrayLength().ShouldBeGreaterThan(0);
        using var response = await reader.Post("/api/vms", InventoryRequests.VmBody());
        await response.ShouldBeProblem(HttpStatusCode.Forbidden, "RBAC_PERMISSION_DENIED", "VM.create", "read-only");
    }

    [Fact]
    public async Task Vm_operator_may_not_create_a_vm()
    {
        using var client = await server.ClientWithRole("vm-operator");
        using var response = await client.Post("/api/vms", InventoryRequests.VmBody());
        await response.ShouldBeProblem(HttpStatusCode.Forbidden, "RBAC_PERMISSION_DENIED", "VM.create", "vm-operator");
    }

    [Fact]
    public async Task Refused_vm_create_writes_nothing()
    {
        using var admin = server.Client();
        var before = (await admin.GetJson("/api/vms")).GetArrayLength();
        using var client = await server.ClientWithRole("vm-operator");

        (await client.Post("/api/vms", InventoryRequests.VmBody())).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await admin.Post("/api/vms", InventoryRequests.VmBody(("vcpusMax", 0)))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        (await admin.GetJson("/api/vms")).GetArrayLength().ShouldBe(before);
    }

    [Theory]
    [InlineData("vm-admin")]
    [InlineData("vm-power-admin")]
    [InlineData("pool-operator")]
    public async Task Vm_admin_and_above_may_create_a_vm(string role)
    {
        using var client = await server.ClientWithRole(role);
        var id = await client.CreateVm(("nameLabel", $"by-{role}"));

        (await client.GetJson($"/api/vms/{id}")).GetProperty("nameLabel").GetString().ShouldBe($"by-{role}");
    }
}
