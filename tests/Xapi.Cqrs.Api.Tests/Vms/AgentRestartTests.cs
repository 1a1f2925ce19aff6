using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Vms;

/// <summary>
/// Issue "the start path at pool scale": an agent restarted with work in flight finishes or undoes every kind of
/// open operation. The service is stopped while a start is stuck in a slow host-side step and an unpause is stuck
/// in the hypervisor; once it is started again, every task has ended and nothing is left open.
/// </summary>
public sealed class AgentRestartTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Open_start_and_unpause_at_a_restart_are_finished_or_undone()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync(memoryTotal: 16 * Pool.GiB);
        var starting = await pool.VmAsync(new VmSpec { Vifs = 2 });
        var paused = await pool.VmAsync();
        var freeBefore = (await pool.HostRecordAsync(host)).GetProperty("memoryFree").GetInt64();

        // A VM left paused, then an unpause that hangs in the hypervisor.
        (await client.PostAsJsonAsync($"/api/vms/{paused.Id}/start", new { paused = true }, ct)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await AddFaultAsync(client, host, new { step = "unpause", delayMs = 600_000, count = 1 });
        var unpauseTask = await StartAsync(client, $"/api/vms/{paused.Id}/unpause");

        // A start that hangs plugging its second VIF: what came before is committed after the coalescing window.
        var version = (await pool.VmRecordAsync(starting.Id)).GetProperty("version").GetInt64();
        await AddFaultAsync(client, host, new { step = "vif_plug", delayMs = 600_000, count = 1 });
        var startTask = await StartAsync(client, $"/api/vms/{starting.Id}/start");
        var progressed = await client.GetJson($"/api/vms/{starting.Id}?minVersion={version + 6}");
        progressed.GetProperty("version").GetInt64().ShouldBeGreaterThan(version + 5, "the steps before the slow one are committed while it runs");
        (await client.GetJson($"/api/tasks/{startTask}")).GetProperty("progress").GetDouble().ShouldBeGreaterThan(0.1);
        (await pool.OpenOperationsAsync()).ShouldNotBeEmpty();

        await server.RestartAsync();

        using var after = server.Client();
        var start = await WaitFinishedAsync(after, startTask);
        start.GetProperty("status").GetString().ShouldBe("failure", start.ToString());
        start.GetProperty("errorInfo")[0].GetString().ShouldBe("INTERNAL_ERROR");
        var unpause = await WaitFinishedAsync(after, unpauseTask);
        unpause.GetProperty("status").GetString().ShouldBeOneOf(["success", "failure"], unpause.ToString());

        var vm = await after.GetJson($"/api/vms/{starting.Id}");
        vm.GetProperty("powerState").GetString().ShouldBe("Halted", "the interrupted build was destroyed and the start failed");
        vm.GetProperty("currentOperations").EnumerateObject().ShouldBeEmpty();
        (await after.GetJson($"/api/vms/{paused.Id}")).GetProperty("currentOperations").EnumerateObject().ShouldBeEmpty();
        var open = (await after.GetJson("/api/admin/operations")).EnumerateArray()
            .Where(o => Guid.TryParse(o.GetProperty("id").GetString(), out var id) && pool.AllIds.Contains(id));
        open.ShouldBeEmpty();
        var hostAfter = await after.GetJson($"/api/hosts/{host}");
        hostAfter.GetProperty("scheduledVms").GetArrayLength().ShouldBe(0);
        hostAfter.GetProperty("residentVms").EnumerateArray().Select(v => v.GetGuid()).ShouldNotContain(starting.Id);
        hostAfter.GetProperty("memoryFree").GetInt64().ShouldBeGreaterThanOrEqualTo(freeBefore - PausedCharge(await after.GetJson($"/api/vms/{paused.Id}")));
    }

    [Fact]
    public async Task Running_and_paused_vms_keep_their_host_and_domid_across_a_restart_and_can_still_be_shut_down()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync(memoryTotal: 16 * Pool.GiB);
        var running = await pool.VmAsync();
        var paused = await pool.VmAsync();
        (await client.PostAsJsonAsync($"/api/vms/{running.Id}/start", new { }, ct)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.PostAsJsonAsync($"/api/vms/{paused.Id}/start", new { paused = true }, ct)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var before = new[] { await client.GetJson($"/api/vms/{running.Id}"), await client.GetJson($"/api/vms/{paused.Id}") };
        var freeBefore = (await client.GetJson($"/api/hosts/{host}")).GetProperty("memoryFree").GetInt64();

        await server.RestartAsync();

        using var after = server.Client();
        foreach (var was in before)
        {
            var now = await after.GetJson($"/api/vms/{was.GetProperty("id").GetGuid()}");
            (now.GetProperty("powerState").GetString(), now.GetProperty("residentOn").GetGuid(), now.GetProperty("domid").GetInt64())
                .ShouldBe((was.GetProperty("powerState").GetString(), host, was.GetProperty("domid").GetInt64()), "the hypervisor kept the domain (xapi's resync)");
        }

        var domains = (await after.GetJson($"/api/hosts/{host}/hypervisor/domains")).EnumerateArray().ToList();
        domains.Select(d => d.GetProperty("domid").GetInt64()).Order().ShouldBe(before.Select(v => v.GetProperty("domid").GetInt64()).Order());
        (await after.GetJson($"/api/hosts/{host}")).GetProperty("memoryFree").GetInt64().ShouldBe(freeBefore);
        foreach (var vm in new[] { running, paused })
        {
            var response = await after.PostAsync($"/api/vms/{vm.Id}/hard-shutdown", null, ct);
            response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync(ct));
        }

        (await after.GetJson($"/api/hosts/{host}/hypervisor/domains")).EnumerateArray().ShouldBeEmpty();
    }

    private static long PausedCharge(JsonElement vm) =>
        vm.GetProperty("powerState").GetString() == "Halted" ? 0 : vm.GetProperty("memoryDynamicMin").GetInt64() + vm.GetProperty("memoryOverhead").GetInt64();

    private async Task AddFaultAsync(HttpClient client, Guid host, object fault) =>
        (await client.PostAsJsonAsync($"/api/hosts/{host}/hypervisor/faults", fault, ct)).StatusCode.ShouldBe(HttpStatusCode.OK);

    private async Task<Guid> StartAsync(HttpClient client, string path)
    {
        var response = await client.PostAsJsonAsync(path + "?async=true", new { }, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("taskId").GetGuid();
    }

    /// <summary>The task once finished: GET ?minVersion=2 waits on the server (bounded) until its end is recorded.</summary>
    private static async Task<JsonElement> WaitFinishedAsync(HttpClient client, Guid task)
    {
        var record = await client.GetJson($"/api/tasks/{task}?minVersion=2");
        for (var attempt = 0; attempt < 12 && record.GetProperty("status").GetString() == "pending"; attempt++)
        {
            record = await client.GetJson($"/api/tasks/{task}?minVersion=2");
        }

        return record;
    }
}
