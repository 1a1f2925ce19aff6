using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Vms;

/// <summary>Host-side failures injected into the simulated hypervisor: the start fails and everything is undone (XAPI.md §3.2, §11.18, §11.21).</summary>
public sealed class FaultTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Vif_plug_failure_undoes_the_start_and_the_next_start_succeeds()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync(memoryTotal: 8 * Pool.GiB, memoryOverhead: 256 * Pool.MiB);
        var vm = await pool.VmAsync(new VmSpec { Vifs = 2 }); // only this pool's host sees its network
        var freeBefore = (await pool.HostRecordAsync(host)).GetProperty("memoryFree").GetInt64();

        (await client.PostAsJsonAsync($"/api/hosts/{host}/hypervisor/faults", new { step = "vif_plug", error = "INTERNAL_ERROR", count = 1 }, ct))
            .StatusCode.ShouldBe(HttpStatusCode.OK);

        var response = await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start", new { }, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        response.StatusCode.ShouldBe(HttpStatusCode.Conflict, text);
        var problem = JsonDocument.Parse(text).RootElement;
        problem.GetProperty("code").GetString().ShouldBe("INTERNAL_ERROR", text);
        var problemParams = problem.GetProperty("params").EnumerateArray().Select(p => p.GetString()).ToArray();

        var record = await pool.VmRecordAsync(vm.Id);
        record.GetProperty("powerState").GetString().ShouldBe("Halted");
        record.GetProperty("domid").GetInt64().ShouldBe(-1);
        record.GetProperty("residentOn").ValueKind.ShouldBe(JsonValueKind.Null);
        record.GetProperty("scheduledToBeResidentOn").ValueKind.ShouldBe(JsonValueKind.Null);
        record.GetProperty("currentOperations").EnumerateObject().ShouldBeEmpty();
        foreach (var vbd in vm.Vbds)
        {
            (await pool.GetAsync($"/api/vbds/{vbd}")).GetProperty("currentlyAttached").GetBoolean().ShouldBeFalse();
        }

        foreach (var vif in vm.Vifs)
        {
            (await pool.GetAsync($"/api/vifs/{vif}")).GetProperty("currentlyAttached").GetBoolean().ShouldBeFalse();
        }

        (await pool.GetAsync($"/api/hosts/{host}/hypervisor/domains")).EnumerateArray()
            .ShouldNotContain(d => d.GetProperty("vm").GetGuid() == vm.Id);
        await pool.AssertNothingLeftAsync();
        var hostAfter = await pool.HostRecordAsync(host);
        hostAfter.GetProperty("memoryFree").GetInt64().ShouldBe(freeBefore);
        hostAfter.GetProperty("residentVms").EnumerateArray().Select(v => v.GetGuid()).ShouldNotContain(vm.Id);

        var history = (await pool.GetAsync($"/api/vms/{vm.Id}/history")).EnumerateArray().ToList();
        history.ShouldContain(e => e.GetProperty("type").GetString() == "start_failed");
        var taskId = history.Single(e => e.GetProperty("type").GetString() == "task_created").GetProperty("stream").GetGuid();
        var task = await pool.GetAsync($"/api/tasks/{taskId}");
        task.GetProperty("status").GetString().ShouldBe("failure");
        var errorInfo = task.GetProperty("errorInfo").EnumerateArray().Select(p => p.GetString()).ToArray();
        errorInfo[0].ShouldBe("INTERNAL_ERROR");
        errorInfo.Skip(1).ToArray().ShouldBe(problemParams);

        (await pool.GetAsync($"/api/messages?obj={vm.Id}")).EnumerateArray()
            .ShouldNotContain(m => m.GetProperty("name").GetString() == "VM_STARTED");

        // The fault was consumed (count 1): the next start succeeds.
        var started = await (await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start", new { }, ct)).ShouldBeOkAsync();
        started.GetProperty("powerState").GetString().ShouldBe("Running");
        started.GetProperty("residentOn").GetGuid().ShouldBe(host);
        foreach (var vif in vm.Vifs)
        {
            (await pool.GetAsync($"/api/vifs/{vif}")).GetProperty("currentlyAttached").GetBoolean().ShouldBeTrue();
        }

        (await pool.GetAsync($"/api/messages?obj={vm.Id}")).EnumerateArray()
            .Count(m => m.GetProperty("name").GetString() == "VM_STARTED").ShouldBe(1);
        await pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Delayed_step_shows_the_task_pending_part_way()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync();
        var vm = await pool.VmAsync();
        (await client.PostAsJsonAsync($"/api/hosts/{host}/hypervisor/faults", new { step = "device_model", delayMs = 3000 }, ct))
            .StatusCode.ShouldBe(HttpStatusCode.OK);

        var response = await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start-on?async=true", new { host }, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted, text);
        var taskId = JsonDocument.Parse(text).RootElement.GetProperty("taskId").GetGuid();

        // Wait (on the server, bounded) until the host side has committed its first steps, while the device
        // model step is held up: the steps before a slow one are committed once the coalescing window passes.
        var decided = (await pool.VmRecordAsync(vm.Id)).GetProperty("version").GetInt64();
        (await pool.GetAsync($"/api/vms/{vm.Id}?minVersion={decided + 1}")).GetProperty("version").GetInt64().ShouldBeGreaterThan(decided);
        var task = await pool.GetAsync($"/api/tasks/{taskId}");

        task.GetProperty("status").GetString().ShouldBe("pending");
        task.GetProperty("progress").GetDouble().ShouldBeGreaterThan(0.0);
        task.GetProperty("progress").GetDouble().ShouldBeLessThan(1.0);
        (await pool.VmRecordAsync(vm.Id)).GetProperty("currentOperations").EnumerateObject().Count().ShouldBe(1);

        var done = await StartTests.PollAsync(pool, taskId);
        done.GetProperty("status").GetString().ShouldBe("success");
        done.GetProperty("progress").GetDouble().ShouldBe(1.0);
        (await pool.VmRecordAsync(vm.Id)).GetProperty("powerState").GetString().ShouldBe("Running");
        await pool.AssertNothingLeftAsync();
    }
}
