using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Vms;

public sealed class StartTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Bug_read_models_lose_their_stream_version_after_a_start()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        await pool.HostAsync(memoryTotal: 16 * Pool.GiB);
        var vm = await pool.VmAsync(new VmSpec { Vifs = 2 });
        (await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start", new { }, ct)).StatusCode.ShouldBe(HttpStatusCode.OK);

        // Every stream the start wrote: its read model's version is the stream's last event version.
        var history = (await pool.GetAsync($"/api/vms/{vm.Id}/history")).EnumerateArray().ToList();
        var last = history.GroupBy(e => e.GetProperty("stream").GetGuid()).ToDictionary(g => g.Key, g => g.Max(e => e.GetProperty("version").GetInt64()));
        var task = history.Single(e => e.GetProperty("type").GetString() == "task_created").GetProperty("stream").GetGuid();
        (await pool.GetAsync($"/api/tasks/{task}")).GetProperty("version").GetInt64().ShouldBe(2, "created and succeeded");
        (await pool.VmRecordAsync(vm.Id)).GetProperty("version").GetInt64().ShouldBe(last[vm.Id]);
        foreach (var vbd in vm.Vbds)
        {
            (await pool.GetAsync($"/api/vbds/{vbd}")).GetProperty("version").GetInt64().ShouldBe(last[vbd], $"VBD {vbd}");
        }

        foreach (var vif in vm.Vifs)
        {
            (await pool.GetAsync($"/api/vifs/{vif}")).GetProperty("version").GetInt64().ShouldBe(last[vif], $"VIF {vif}");
        }

        // And ?minVersion= of a finished task answers at once.
        (await pool.GetAsync($"/api/tasks/{task}?minVersion=2")).GetProperty("status").GetString().ShouldBe("success");
    }

    [Fact]
    public async Task Sync_start_runs_the_vm_and_accounts_for_everything()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync(memoryTotal: 16 * Pool.GiB, memoryOverhead: 512 * Pool.MiB);
        var vm = await pool.VmAsync(new VmSpec { Vifs = 1 });
        var before = await pool.HostRecordAsync(host);

        var started = await (await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start-on", new { host }, ct)).ShouldBeOkAsync();

        started.GetProperty("powerState").GetString().ShouldBe("Running");
        started.GetProperty("residentOn").GetGuid().ShouldBe(host);
        started.GetProperty("scheduledToBeResidentOn").ValueKind.ShouldBe(JsonValueKind.Null);
        started.GetProperty("domid").GetInt64().ShouldBeGreaterThanOrEqualTo(1);
        started.GetProperty("currentOperations").EnumerateObject().ShouldBeEmpty();

        var record = await pool.VmRecordAsync(vm.Id);
        var after = await pool.HostRecordAsync(host);
        after.GetProperty("residentVms").EnumerateArray().Select(v => v.GetGuid()).ShouldContain(vm.Id);
        var charge = record.GetProperty("memoryDynamicMin").GetInt64() + record.GetProperty("memoryOverhead").GetInt64();
        (before.GetProperty("memoryFree").GetInt64() - after.GetProperty("memoryFree").GetInt64()).ShouldBe(charge);

        foreach (var vbd in vm.Vbds)
        {
            (await pool.GetAsync($"/api/vbds/{vbd}")).GetProperty("currentlyAttached").GetBoolean().ShouldBeTrue();
        }

        foreach (var vif in vm.Vifs)
        {
            (await pool.GetAsync($"/api/vifs/{vif}")).GetProperty("currentlyAttached").GetBoolean().ShouldBeTrue();
        }

        var metrics = await pool.GetAsync($"/api/vms/{vm.Id}/metrics");
        metrics.GetProperty("vcpusNumber").GetInt64().ShouldBe(record.GetProperty("vcpusAtStartup").GetInt64());
        metrics.GetProperty("startTime").ValueKind.ShouldBe(JsonValueKind.String);

        var messages = (await pool.GetAsync($"/api/messages?obj={vm.Id}")).EnumerateArray()
            .Where(m => m.GetProperty("name").GetString() == "VM_STARTED").ToList();
        messages.Count.ShouldBe(1);
        messages[0].GetProperty("priority").GetInt64().ShouldBe(5);
        messages[0].GetProperty("class").GetString().ShouldBe("VM");
        messages[0].GetProperty("objUuid").GetGuid().ShouldBe(vm.Id);
        var body = messages[0].GetProperty("body").GetString()!;
        body.ShouldContain(vm.Name);
        body.ShouldContain(pool.HostNames[host]);
        body.ShouldContain(vm.Id.ToString());
        body.ShouldContain(host.ToString());

        await pool.AssertNothingLeftAsync();

        var history = await pool.GetAsync($"/api/vms/{vm.Id}/history");
        var created = history.EnumerateArray().Single(e => e.GetProperty("type").GetString() == "task_created");
        var taskId = created.GetProperty("stream").GetGuid();
        var task = await pool.GetAsync($"/api/tasks/{taskId}");
        task.GetProperty("status").GetString().ShouldBe("success");
        task.GetProperty("progress").GetDouble().ShouldBe(1.0);
    }

    [Fact]
    public async Task Start_without_host_places_the_vm_and_clears_the_reservation()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        await pool.HostAsync();
        var vm = await pool.VmAsync();

        var started = await (await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start", new { }, ct)).ShouldBeOkAsync();

        started.GetProperty("powerState").GetString().ShouldBe("Running");
        started.GetProperty("residentOn").ValueKind.ShouldBe(JsonValueKind.String);
        started.GetProperty("scheduledToBeResidentOn").ValueKind.ShouldBe(JsonValueKind.Null);
        started.GetProperty("currentOperations").EnumerateObject().ShouldBeEmpty();
        var host = started.GetProperty("residentOn").GetGuid();
        (await pool.HostRecordAsync(host)).GetProperty("residentVms").EnumerateArray().Select(v => v.GetGuid()).ShouldContain(vm.Id);
        (await pool.OpenOperationsAsync()).ShouldBeEmpty();
        (await pool.HostRecordAsync(host)).GetProperty("scheduledVms").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task Paused_start_then_unpause_runs_the_domain()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync();
        var vm = await pool.VmAsync();

        var paused = await (await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start-on", new { host, paused = true }, ct)).ShouldBeOkAsync();
        paused.GetProperty("powerState").GetString().ShouldBe("Paused");
        var domains = await pool.GetAsync($"/api/hosts/{host}/hypervisor/domains");
        domains.EnumerateArray().Single(d => d.GetProperty("vm").GetGuid() == vm.Id).GetProperty("state").GetString().ShouldBe("paused");

        var running = await (await client.PostAsync($"/api/vms/{vm.Id}/unpause", null, ct)).ShouldBeOkAsync();
        running.GetProperty("powerState").GetString().ShouldBe("Running");
        domains = await pool.GetAsync($"/api/hosts/{host}/hypervisor/domains");
        domains.EnumerateArray().Single(d => d.GetProperty("vm").GetGuid() == vm.Id).GetProperty("state").GetString().ShouldBe("running");
        await pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Async_start_answers_202_and_the_task_succeeds()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync();
        var vm = await pool.VmAsync();

        var response = await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start-on?async=true", new { host }, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted, text);
        var taskId = JsonDocument.Parse(text).RootElement.GetProperty("taskId").GetGuid();
        response.Headers.Location!.OriginalString.ShouldBe($"/api/tasks/{taskId}");

        var task = await PollAsync(pool, taskId);
        task.GetProperty("status").GetString().ShouldBe("success");
        task.GetProperty("progress").GetDouble().ShouldBe(1.0);
        var record = await pool.VmRecordAsync(vm.Id);
        record.GetProperty("powerState").GetString().ShouldBe("Running");
        record.GetProperty("residentOn").GetGuid().ShouldBe(host);
        await pool.AssertNothingLeftAsync();
    }

    /// <summary>
    /// The task once it has ended: GET ?minVersion=2 (a task's creation and its end) waits on the server, woken by
    /// the task's completion; asked again a bounded number of times (each wait is at most 5 s).
    /// </summary>
    internal static async Task<JsonElement> PollAsync(Pool pool, Guid taskId)
    {
        var task = await pool.GetAsync($"/api/tasks/{taskId}?minVersion=2");
        for (var attempt = 0; attempt < 6 && task.GetProperty("status").GetString() == "pending"; attempt++)
        {
            task = await pool.GetAsync($"/api/tasks/{taskId}?minVersion=2");
        }

        return task;
    }
}
