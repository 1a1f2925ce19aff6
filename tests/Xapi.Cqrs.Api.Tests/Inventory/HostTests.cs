using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Inventory;

public sealed class HostTests(XapiServer server) : IClassFixture<XapiServer>
{
    private const long GiB = InventoryRequests.GiB;
    private const long MiB = InventoryRequests.MiB;
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Registered_host_reads_back_enabled_and_live()
    {
        using var client = server.Client();
        var network = await client.CreateNetwork();
        var sr = await client.CreateSr();
        using var created = await client.Post("/api/hosts", InventoryRequests.HostBody([network], [sr], ("nameLabel", "host-a")));
        var id = await created.CreatedId();
        created.Headers.Location!.ToString().ShouldBe($"/api/hosts/{id}");

        var read = await client.GetJson($"/api/hosts/{id}");
        read.GetProperty("id").GetGuid().ShouldBe(id);
        read.GetProperty("nameLabel").GetString().ShouldBe("host-a");
        read.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        read.GetProperty("live").GetBoolean().ShouldBeTrue();
        read.GetProperty("memoryTotal").GetInt64().ShouldBe(16 * GiB);
        read.GetProperty("memoryOverhead").GetInt64().ShouldBe(512 * MiB);
        read.GetProperty("memoryFree").GetInt64().ShouldBe(16 * GiB - 512 * MiB);
        read.GetProperty("cpuCount").GetInt32().ShouldBe(8);
        read.GetProperty("residentVms").GetArrayLength().ShouldBe(0);
        read.GetProperty("scheduledVms").GetArrayLength().ShouldBe(0);
        read.GetProperty("networks").EnumerateArray().Select(n => n.GetGuid()).ShouldBe([network]);
        read.GetProperty("srs").EnumerateArray().Select(n => n.GetGuid()).ShouldBe([sr]);
        read.GetProperty("version").GetInt64().ShouldBe(1);
    }

    [Fact]
    public async Task Registered_host_is_in_the_list()
    {
        using var client = server.Client();
        var id = await client.CreateHost(nameLabel: "listed");

        var list = await client.GetJson("/api/hosts");
        list.EnumerateArray().Select(n => n.GetProperty("id").GetGuid()).ShouldContain(id);
    }

    [Fact]
    public async Task Negative_memory_total_is_invalid_value()
    {
        using var client = server.Client();
        using var response = await client.Post("/api/hosts", InventoryRequests.HostBody([], [], ("memoryTotal", -1), ("memoryOverhead", null)));
        var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "memory_total", "-1");
        problem.GetProperty("errors").TryGetProperty("memoryTotal", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Zero_cpus_is_invalid_value()
    {
        using var client = server.Client();
        using var response = await client.Post("/api/hosts", InventoryRequests.HostBody([], [], ("cpuCount", 0)));
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "cpu_count", "0");
    }

    [Fact]
    public async Task Unknown_hypervisor_is_value_not_supported()
    {
        using var client = server.Client();
        using var response = await client.Post("/api/hosts", InventoryRequests.HostBody([], [], ("hypervisor", "vmware")));
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "VALUE_NOT_SUPPORTED", "hypervisor", "vmware", "one of simulated, qemu");
    }

    [Fact]
    public async Task Host_on_an_unknown_network_is_handle_invalid()
    {
        using var client = server.Client();
        var sr = await client.CreateSr();
        var network = Guid.NewGuid();
        using var response = await client.Post("/api/hosts", InventoryRequests.HostBody([network], [sr]));
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "network", network.ToString());
    }

    [Fact]
    public async Task Host_on_an_unknown_sr_is_handle_invalid()
    {
        using var client = server.Client();
        var network = await client.CreateNetwork();
        var sr = Guid.NewGuid();
        using var response = await client.Post("/api/hosts", InventoryRequests.HostBody([network], [sr]));
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "SR", sr.ToString());
    }

    [Fact]
    public async Task Unknown_host_is_handle_invalid()
    {
        using var client = server.Client();
        var id = Guid.NewGuid();
        using var response = await client.GetAsync($"/api/hosts/{id}", ct);
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "host", id.ToString());
    }

    [Fact]
    public async Task Disabling_an_unknown_host_is_handle_invalid()
    {
        using var client = server.Client();
        var id = Guid.NewGuid();
        using var response = await client.PostAsync($"/api/hosts/{id}/disable", null, ct);
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "host", id.ToString());
    }

    [Fact]
    public async Task Disabled_host_answers_and_reads_back_disabled()
    {
        using var client = server.Client();
        var id = await client.CreateHost();

        using var response = await client.PostAsync($"/api/hosts/{id}/disable", null, ct);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var answer = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        answer.GetProperty("id").GetGuid().ShouldBe(id);
        answer.GetProperty("enabled").GetBoolean().ShouldBeFalse();
        answer.GetProperty("version").GetInt64().ShouldBe(2);

        var read = await client.GetJson($"/api/hosts/{id}");
        read.GetProperty("enabled").GetBoolean().ShouldBeFalse();
        read.GetProperty("live").GetBoolean().ShouldBeTrue();
        read.GetProperty("version").GetInt64().ShouldBe(2);
    }

    [Fact]
    public async Task Disabled_host_enabled_again_reads_back_enabled()
    {
        using var client = server.Client();
        var id = await client.CreateHost();
        (await client.PostAsync($"/api/hosts/{id}/disable", null, ct)).StatusCode.ShouldBe(HttpStatusCode.OK);

        using var response = await client.PostAsync($"/api/hosts/{id}/enable", null, ct);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var answer = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        answer.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        answer.GetProperty("version").GetInt64().ShouldBe(3);

        var read = await client.GetJson($"/api/hosts/{id}");
        read.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        read.GetProperty("version").GetInt64().ShouldBe(3);
    }

    [Fact]
    public async Task Enabling_an_enabled_host_writes_nothing()
    {
        using var client = server.Client();
        var id = await client.CreateHost();

        using var response = await client.PostAsync($"/api/hosts/{id}/enable", null, ct);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);

        var read = await client.GetJson($"/api/hosts/{id}");
        read.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        read.GetProperty("version").GetInt64().ShouldBe(1);
    }

    [Fact]
    public async Task Host_set_not_live_reads_back_not_live()
    {
        using var client = server.Client();
        var id = await client.CreateHost();

        using var response = await client.Post($"/api/hosts/{id}/live", new { live = false });
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var answer = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        answer.GetProperty("live").GetBoolean().ShouldBeFalse();

        var read = await client.GetJson($"/api/hosts/{id}");
        read.GetProperty("live").GetBoolean().ShouldBeFalse();
        read.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        read.GetProperty("version").GetInt64().ShouldBe(2);
    }

    [Fact]
    public async Task Live_without_a_value_is_invalid_value()
    {
        using var client = server.Client();
        var id = await client.CreateHost();

        using var response = await client.Post($"/api/hosts/{id}/live", new { });
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "live", "");
    }

    [Fact]
    public async Task Min_version_already_reached_answers_at_once()
    {
        using var client = server.Client();
        var id = await client.CreateHost();
        (await client.PostAsync($"/api/hosts/{id}/disable", null, ct)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var watch = Stopwatch.StartNew();
        var read = await client.GetJson($"/api/hosts/{id}?minVersion=2");
        watch.Stop();

        read.GetProperty("version").GetInt64().ShouldBe(2);
        read.GetProperty("enabled").GetBoolean().ShouldBeFalse();
        // The bounded wait is 5 s; an answer well inside it means the read did not wait for the bound.
        watch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task Pool_operator_may_disable_and_enable_hosts()
    {
        using var admin = server.Client();
        var id = await admin.CreateHost();
        using var operatorClient = await server.ClientWithRole("pool-operator");

        (await operatorClient.PostAsync($"/api/hosts/{id}/disable", null, ct)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await admin.GetJson($"/api/hosts/{id}")).GetProperty("enabled").GetBoolean().ShouldBeFalse();
        (await operatorClient.PostAsync($"/api/hosts/{id}/enable", null, ct)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await admin.GetJson($"/api/hosts/{id}")).GetProperty("enabled").GetBoolean().ShouldBeTrue();
    }

    [Theory]
    [InlineData("vm-power-admin", "disable", "host.disable")]
    [InlineData("vm-admin", "enable", "host.enable")]
    [InlineData("read-only", "disable", "host.disable")]
    public async Task Roles_below_pool_operator_may_not_change_hosts(string role, string action, string permission)
    {
        using var admin = server.Client();
        var id = await admin.CreateHost();
        using var client = await server.ClientWithRole(role);

        using var response = await client.PostAsync($"/api/hosts/{id}/{action}", null, ct);
        await response.ShouldBeProblem(HttpStatusCode.Forbidden, "RBAC_PERMISSION_DENIED", permission, role);
        (await admin.GetJson($"/api/hosts/{id}")).GetProperty("version").GetInt64().ShouldBe(1);
    }

    [Theory]
    [InlineData("pool-operator")]
    [InlineData("vm-admin")]
    public async Task Only_pool_admin_registers_hosts(string role)
    {
        using var admin = server.Client();
        var network = await admin.CreateNetwork();
        var sr = await admin.CreateSr();
        using var client = await server.ClientWithRole(role);

        using var response = await client.Post("/api/hosts", InventoryRequests.HostBody([network], [sr]));
        await response.ShouldBeProblem(HttpStatusCode.Forbidden, "RBAC_PERMISSION_DENIED", "host.create", role);
    }

    [Fact]
    public async Task Read_only_may_read_hosts()
    {
        using var admin = server.Client();
        var id = await admin.CreateHost(nameLabel: "visible");
        using var reader = await server.ClientWithRole("read-only");

        (await reader.GetJson($"/api/hosts/{id}")).GetProperty("nameLabel").GetString().ShouldBe("visible");
    }
}
