using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Vms;

/// <summary>
/// A service whose clean shutdowns give up after 2 s, whose pauses are abandoned after 1 s, whose too-early guest reboots
/// wait only 200 ms, and whose agents look at deadlines every 250 ms.
/// </summary>
public sealed class LifecycleServer : XapiServer
{
    protected override IEnumerable<string> Settings =>
    [
        "--Xapi:Deadlines:clean_shutdown=00:00:02", "--Xapi:Deadlines:pause=00:00:01", "--Xapi:Agent:RebootDelay=00:00:00.200",
        "--Xapi:Agent:DeadlineSweep=00:00:00.250",
    ];
}

/// <summary>
/// The VM lifecycle after start (API.md "VM lifecycle", XAPI.md §1.2, §1.3, §1.7): pause, clean and hard shutdown,
/// clean and hard reboot, guests that stop by themselves, and the refusals, through the real service.
/// </summary>
public sealed class LifecycleTests(LifecycleServer server) : IClassFixture<LifecycleServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    private async Task<JsonElement> PostOkAsync(HttpClient client, string path) =>
        await (await client.PostAsync(path, null, ct)).ShouldBeOkAsync();

    private async Task<JsonElement> AcceptedAsync(HttpResponseMessage response)
    {
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        return await response.Content.ReadFromJsonAsync<JsonElement>(ct);
    }

    private static string Power(JsonElement vm) => vm.GetProperty("powerState").GetString()!;

    private static long Domid(JsonElement vm) => vm.GetProperty("domid").GetInt64();

    /// <summary>Waits (long-polling ?minVersion=) until the VM's record satisfies <paramref name="done"/>.</summary>
    private async Task<JsonElement> UntilAsync(Pool pool, Guid vm, Func<JsonElement, bool> done)
    {
        var record = await pool.VmRecordAsync(vm);
        for (var i = 0; i < 100 && !done(record); i++)
        {
            record = await pool.GetAsync($"/api/vms/{vm}?minVersion={record.GetProperty("version").GetInt64() + 1}");
        }

        done(record).ShouldBeTrue($"VM {vm}: {record}");
        return record;
    }

    private async Task<List<string?>> MessagesAsync(Pool pool, Guid vm) =>
        [.. (await pool.GetAsync($"/api/messages?obj={vm}")).EnumerateArray().Select(m => m.GetProperty("name").GetString())];

    [Fact]
    public async Task Round_and_round_halted_running_paused_running_halted_running_rebooted_halted()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync(memoryTotal: 16 * Pool.GiB);
        var vm = await pool.VmAsync(new VmSpec { Vifs = 2 });
        var freeBefore = (await pool.HostRecordAsync(host)).GetProperty("memoryFree").GetInt64();

        for (var round = 0; round < 2; round++)
        {
            var running = await PostOkAsync(client, $"/api/vms/{vm.Id}/start");
            Power(running).ShouldBe("Running");
            var paused = await PostOkAsync(client, $"/api/vms/{vm.Id}/pause");
            (Power(paused), Domid(paused)).ShouldBe(("Paused", Domid(running)));
            (await pool.GetAsync($"/api/hosts/{host}/hypervisor/domains")).EnumerateArray()
                .Single(d => d.GetProperty("vm").GetGuid() == vm.Id).GetProperty("state").GetString().ShouldBe("paused");
            Power(await PostOkAsync(client, $"/api/vms/{vm.Id}/unpause")).ShouldBe("Running");

            var hardRebooted = await PostOkAsync(client, $"/api/vms/{vm.Id}/hard-reboot");
            (Power(hardRebooted), hardRebooted.GetProperty("residentOn").GetGuid()).ShouldBe(("Running", host));
            Domid(hardRebooted).ShouldNotBe(Domid(running), "a reboot builds a new domain");
            var cleanRebooted = await PostOkAsync(client, $"/api/vms/{vm.Id}/clean-reboot");
            Power(cleanRebooted).ShouldBe("Running");
            Domid(cleanRebooted).ShouldNotBe(Domid(hardRebooted));
            (await pool.GetAsync($"/api/hosts/{host}/hypervisor/domains")).EnumerateArray()
                .Where(d => d.GetProperty("vm").GetGuid() == vm.Id).ShouldHaveSingleItem().GetProperty("domid").GetInt64().ShouldBe(Domid(cleanRebooted));

            var halted = await PostOkAsync(client, $"/api/vms/{vm.Id}/clean-shutdown");
            (Power(halted), Domid(halted)).ShouldBe(("Halted", -1L));
            foreach (var vif in vm.Vifs)
            {
                (await pool.GetAsync($"/api/vifs/{vif}")).GetProperty("currentlyAttached").GetBoolean().ShouldBeFalse();
            }

            (await pool.HostRecordAsync(host)).GetProperty("memoryFree").GetInt64().ShouldBe(freeBefore, $"round {round}");
            await pool.AssertNothingLeftAsync();
        }

        var messages = await MessagesAsync(pool, vm.Id);
        messages.Count(n => n == "VM_STARTED").ShouldBe(2);
        messages.Count(n => n == "VM_PAUSED").ShouldBe(2);
        messages.Count(n => n == "VM_UNPAUSED").ShouldBe(2);
        messages.Count(n => n == "VM_REBOOTED").ShouldBe(4);
        messages.Count(n => n == "VM_SHUTDOWN").ShouldBe(2);
    }

    [Fact]
    public async Task A_vm_started_paused_boots_at_its_unpause_and_its_pv_drivers_allow_a_clean_shutdown()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        await pool.HostAsync();
        var vm = await pool.VmAsync();
        var paused = await (await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start", new { paused = true }, ct)).ShouldBeOkAsync();
        Power(paused).ShouldBe("Paused");

        var running = await PostOkAsync(client, $"/api/vms/{vm.Id}/unpause");

        running.GetProperty("allowedOperations").EnumerateArray().Select(o => o.GetString()).ShouldContain("clean_shutdown");
        Power(await PostOkAsync(client, $"/api/vms/{vm.Id}/clean-shutdown")).ShouldBe("Halted");
        (await MessagesAsync(pool, vm.Id)).ShouldContain("VM_UNPAUSED");
    }

    [Fact]
    public async Task A_guest_that_ignores_the_request_fails_the_clean_shutdown_at_its_deadline_and_keeps_running()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        await pool.HostAsync();
        var vm = await pool.VmAsync(new VmSpec { OtherConfig = new() { ["simulator.ignore_shutdown"] = "true" } });
        var running = await PostOkAsync(client, $"/api/vms/{vm.Id}/start");

        var response = await client.PostAsync($"/api/vms/{vm.Id}/clean-shutdown", null, ct);

        (await response.ShouldBeProblemWithCode(HttpStatusCode.Conflict, "VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT")).Params().ShouldBe([vm.Id.ToString()]);
        var after = await pool.VmRecordAsync(vm.Id);
        (Power(after), Domid(after)).ShouldBe(("Running", Domid(running)));
        await pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task A_hard_shutdown_during_a_clean_shutdown_cancels_it_and_halts_the_vm()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        await pool.HostAsync();
        var vm = await pool.VmAsync(new VmSpec { OtherConfig = new() { ["simulator.ignore_shutdown"] = "true" } });
        await PostOkAsync(client, $"/api/vms/{vm.Id}/start");
        var clean = await AcceptedAsync(await client.PostAsync($"/api/vms/{vm.Id}/clean-shutdown?async=true", null, ct));
        var cleanTask = clean.GetProperty("taskId").GetGuid();

        var busy = await client.PostAsync($"/api/vms/{vm.Id}/pause", null, ct);
        (await busy.ShouldBeProblemWithCode(HttpStatusCode.Conflict, "OTHER_OPERATION_IN_PROGRESS")).Params()
            .ShouldBe(["VM", vm.Id.ToString(), "clean_shutdown", cleanTask.ToString()]);

        var halted = await PostOkAsync(client, $"/api/vms/{vm.Id}/hard-shutdown");

        Power(halted).ShouldBe("Halted");
        var task = await pool.GetAsync($"/api/tasks/{cleanTask}");
        task.GetProperty("status").GetString().ShouldBe("cancelled");
        task.GetProperty("errorInfo")[0].GetString().ShouldBe("TASK_CANCELLED");
        await pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task A_guest_without_pv_drivers_lacks_clean_shutdown_but_can_be_hard_shut_down()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        await pool.HostAsync();
        var vm = await pool.VmAsync(new VmSpec { OtherConfig = new() { ["simulator.pv_drivers"] = "false" } });
        var running = await PostOkAsync(client, $"/api/vms/{vm.Id}/start");
        running.GetProperty("allowedOperations").EnumerateArray().Select(o => o.GetString()).ShouldNotContain("clean_shutdown");

        foreach (var call in new[] { "clean-shutdown", "clean-reboot" })
        {
            (await (await client.PostAsync($"/api/vms/{vm.Id}/{call}", null, ct)).ShouldBeProblemWithCode(HttpStatusCode.Conflict, "VM_LACKS_FEATURE"))
                .Params().ShouldBe([vm.Id.ToString()]);
        }

        Power(await PostOkAsync(client, $"/api/vms/{vm.Id}/hard-shutdown")).ShouldBe("Halted");
    }

    [Theory]
    [InlineData("pause", "pause")]
    [InlineData("clean-shutdown", "shutdown")]
    [InlineData("hard-shutdown", "destroy")]
    [InlineData("clean-reboot", "shutdown")]
    [InlineData("hard-reboot", "destroy")]
    [InlineData("clean-shutdown", "destroy")]
    public async Task A_fault_at_the_first_step_fails_the_operation_and_leaves_the_vm_running(string call, string step)
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync();
        var vm = await pool.VmAsync();
        var running = await PostOkAsync(client, $"/api/vms/{vm.Id}/start");
        (await client.PostAsJsonAsync($"/api/hosts/{host}/hypervisor/faults", new { step, error = "INTERNAL_ERROR" }, ct)).EnsureSuccessStatusCode();

        var response = await client.PostAsync($"/api/vms/{vm.Id}/{call}", null, ct);

        await response.ShouldBeProblemWithCode(HttpStatusCode.Conflict, "INTERNAL_ERROR");
        var after = await pool.VmRecordAsync(vm.Id);
        (Power(after), Domid(after)).ShouldBe(("Running", Domid(running)));
        await pool.AssertNothingLeftAsync();
        Power(await PostOkAsync(client, $"/api/vms/{vm.Id}/hard-shutdown")).ShouldBe("Halted", "the VM is still usable");
    }

    [Theory]
    [InlineData("create")]
    [InlineData("build")]
    [InlineData("vbd_plug")]
    [InlineData("vif_plug")]
    [InlineData("device_model")]
    [InlineData("unpause")]
    public async Task A_fault_while_a_reboot_rebuilds_the_domain_leaves_the_vm_halted_with_nothing_held(string step)
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync();
        var vm = await pool.VmAsync();
        var freeBefore = (await pool.HostRecordAsync(host)).GetProperty("memoryFree").GetInt64();
        await PostOkAsync(client, $"/api/vms/{vm.Id}/start");
        (await client.PostAsJsonAsync($"/api/hosts/{host}/hypervisor/faults", new { step, error = "INTERNAL_ERROR" }, ct)).EnsureSuccessStatusCode();

        await (await client.PostAsync($"/api/vms/{vm.Id}/hard-reboot", null, ct)).ShouldBeProblemWithCode(HttpStatusCode.Conflict, "INTERNAL_ERROR");

        Power(await pool.VmRecordAsync(vm.Id)).ShouldBe("Halted");
        (await pool.HostRecordAsync(host)).GetProperty("memoryFree").GetInt64().ShouldBe(freeBefore);
        (await pool.GetAsync($"/api/hosts/{host}/hypervisor/domains")).EnumerateArray().ShouldNotContain(d => d.GetProperty("vm").GetGuid() == vm.Id);
        await pool.AssertNothingLeftAsync();
    }

    [Theory]
    [InlineData("poweroff", "destroy", "Halted", "VM_SHUTDOWN")]
    [InlineData("poweroff", "restart", "Running", "VM_REBOOTED")]
    [InlineData("reboot", "restart", "Running", "VM_REBOOTED")]
    [InlineData("crash", "restart", "Halted", "VM_CRASHED")]
    public async Task A_guest_that_stops_by_itself_is_followed_by_its_actions_after(string reason, string action, string power, string message)
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync();
        var vm = await pool.VmAsync(new VmSpec { ActionsAfterShutdown = reason == "poweroff" ? action : null, ActionsAfterReboot = reason == "reboot" ? action : null });
        var running = await PostOkAsync(client, $"/api/vms/{vm.Id}/start");

        (await client.PostAsJsonAsync($"/api/hosts/{host}/hypervisor/domains/{Domid(running)}/guest-shutdown", new { reason }, ct)).EnsureSuccessStatusCode();

        // A crash this soon after the start is a crash loop: the restart becomes a shutdown.
        var after = await UntilAsync(pool, vm.Id, r => Power(r) == power && r.GetProperty("currentOperations").EnumerateObject().Count() == 0
            && (power == "Halted" || Domid(r) != Domid(running)));
        if (power == "Running")
        {
            after.GetProperty("residentOn").GetGuid().ShouldBe(host);
        }

        (await MessagesAsync(pool, vm.Id)).ShouldContain(message);
        await pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Vms_on_an_internal_network_run_together_on_one_host()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var (a, b) = (await pool.HostAsync(), await pool.HostAsync());
        var internalNet = await pool.NetworkAsync(); // listed by no host: xapi's PIF-less network
        var first = await pool.VmAsync(new VmSpec { VifNetwork = internalNet });
        var second = await pool.VmAsync(new VmSpec { VifNetwork = internalNet });

        (await (await client.PostAsJsonAsync($"/api/vms/{first.Id}/start-on", new { host = b }, ct)).ShouldBeOkAsync())
            .GetProperty("residentOn").GetGuid().ShouldBe(b, "an internal network is seen by any host");
        (await (await client.PostAsJsonAsync($"/api/vms/{second.Id}/start-on", new { host = a }, ct)).ShouldBeProblemWithCode(HttpStatusCode.Conflict, "VM_REQUIRES_NETWORK"))
            .Params().ShouldBe([second.Id.ToString(), internalNet.ToString()]);
        (await PostOkAsync(client, $"/api/vms/{second.Id}/start")).GetProperty("residentOn").GetGuid().ShouldBe(b, "placement follows the VM already on it");

        await PostOkAsync(client, $"/api/vms/{first.Id}/hard-shutdown");
        await PostOkAsync(client, $"/api/vms/{second.Id}/hard-shutdown");
        (await (await client.PostAsJsonAsync($"/api/vms/{second.Id}/start-on", new { host = a }, ct)).ShouldBeOkAsync())
            .GetProperty("residentOn").GetGuid().ShouldBe(a, "with no VM on it any more, the network is free again");
    }

    [Fact]
    public async Task Destroy_of_a_halted_vm_removes_it_and_its_devices_from_reads_but_not_from_history()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        await pool.HostAsync();
        var vm = await pool.VmAsync(new VmSpec { Vifs = 2, Cd = true });
        await PostOkAsync(client, $"/api/vms/{vm.Id}/start");

        (await (await client.PostAsync($"/api/vms/{vm.Id}/destroy", null, ct)).ShouldBeProblemWithCode(HttpStatusCode.Conflict, "VM_BAD_POWER_STATE"))
            .Params().ShouldBe([vm.Id.ToString(), "halted, suspended", "running"]);
        await PostOkAsync(client, $"/api/vms/{vm.Id}/hard-shutdown");

        await PostOkAsync(client, $"/api/vms/{vm.Id}/destroy");

        (await (await client.GetAsync($"/api/vms/{vm.Id}", ct)).ShouldBeProblemWithCode(HttpStatusCode.NotFound, "HANDLE_INVALID")).Params().ShouldBe(["VM", vm.Id.ToString()]);
        foreach (var vbd in vm.Vbds)
        {
            await (await client.GetAsync($"/api/vbds/{vbd}", ct)).ShouldBeProblemWithCode(HttpStatusCode.NotFound, "HANDLE_INVALID");
        }

        foreach (var vif in vm.Vifs)
        {
            await (await client.GetAsync($"/api/vifs/{vif}", ct)).ShouldBeProblemWithCode(HttpStatusCode.NotFound, "HANDLE_INVALID");
        }

        (await pool.GetAsync("/api/vms")).EnumerateArray().ShouldNotContain(v => v.GetProperty("id").GetGuid() == vm.Id);
        await (await client.PostAsync($"/api/vms/{vm.Id}/start", null, ct)).ShouldBeProblemWithCode(HttpStatusCode.NotFound, "HANDLE_INVALID");
        await (await client.PostAsync($"/api/vms/{vm.Id}/destroy", null, ct)).ShouldBeProblemWithCode(HttpStatusCode.NotFound, "HANDLE_INVALID");

        var history = (await pool.GetAsync($"/api/vms/{vm.Id}/history")).EnumerateArray().ToList();
        history.Select(e => e.GetProperty("type").GetString()).ShouldContain("vm_destroyed");
        history.Count(e => e.GetProperty("type").GetString() == "vbd_destroyed").ShouldBe(vm.Vbds.Count);
        history.Count(e => e.GetProperty("type").GetString() == "vif_destroyed").ShouldBe(vm.Vifs.Count);
        foreach (var device in vm.Vbds.Concat(vm.Vifs))
        {
            history.ShouldContain(e => e.GetProperty("stream").GetGuid() == device, "a destroyed device's events stay in the VM's history");
        }

        foreach (var vdi in vm.Vdis)
        {
            (await pool.GetAsync($"/api/vdis/{vdi}")).ValueKind.ShouldBe(JsonValueKind.Object, "VM.destroy leaves the disks (xapi destroys VBDs, not VDIs)");
        }
    }

    [Fact]
    public async Task Unknown_vm_answers_handle_invalid_and_writes_nothing()
    {
        using var client = server.Client();
        var id = Guid.NewGuid();
        foreach (var call in new[] { "pause", "clean-shutdown", "hard-shutdown", "clean-reboot", "hard-reboot" })
        {
            (await (await client.PostAsync($"/api/vms/{id}/{call}", null, ct)).ShouldBeProblemWithCode(HttpStatusCode.NotFound, "HANDLE_INVALID"))
                .Params().ShouldBe(["VM", id.ToString()]);
        }
    }

    [Fact]
    public async Task A_malformed_body_or_an_unknown_field_is_a_bad_request_and_writes_nothing()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        await pool.HostAsync();
        var vm = await pool.VmAsync();
        var version = (await pool.VmRecordAsync(vm.Id)).GetProperty("version").GetInt64();
        foreach (var call in new[] { "start", "pause", "clean-shutdown", "hard-reboot", "destroy" })
        {
            using var body = new StringContent("{\"paused\": tru", System.Text.Encoding.UTF8, "application/json");
            await (await client.PostAsync($"/api/vms/{vm.Id}/{call}", body, ct)).ShouldBeProblemWithCode(HttpStatusCode.BadRequest, "INVALID_VALUE");
        }

        using var wrongType = new StringContent("{\"paused\": \"yes\"}", System.Text.Encoding.UTF8, "application/json");
        await (await client.PostAsync($"/api/vms/{vm.Id}/start", wrongType, ct)).ShouldBeProblemWithCode(HttpStatusCode.BadRequest, "INVALID_VALUE");
        (await (await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start", new { paused = false, turbo = true }, ct))
            .ShouldBeProblemWithCode(HttpStatusCode.BadRequest, "INVALID_VALUE")).Params().ShouldBe(["turbo", "unknown field"]);
        foreach (var call in new[] { "pause", "hard-shutdown", "destroy" })
        {
            (await (await client.PostAsJsonAsync($"/api/vms/{vm.Id}/{call}", new { force = true }, ct))
                .ShouldBeProblemWithCode(HttpStatusCode.BadRequest, "INVALID_VALUE")).Params().ShouldBe(["force", "this call takes no parameters"]);
        }
        (await pool.VmRecordAsync(vm.Id)).GetProperty("version").GetInt64().ShouldBe(version);
    }

    [Fact]
    public async Task A_pause_open_past_its_deadline_is_abandoned_by_its_agent_and_the_vm_keeps_running()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync();
        var vm = await pool.VmAsync();
        var running = await PostOkAsync(client, $"/api/vms/{vm.Id}/start");
        (await client.PostAsJsonAsync($"/api/hosts/{host}/hypervisor/faults", new { step = "pause", delayMs = 600_000 }, ct)).EnsureSuccessStatusCode();

        var response = await client.PostAsync($"/api/vms/{vm.Id}/pause", null, ct);

        (await response.ShouldBeProblemWithCode(HttpStatusCode.Conflict, "INTERNAL_ERROR")).Params()[0].ShouldStartWith("pause abandoned: open past its deadline of 00:00:01");
        var after = await pool.VmRecordAsync(vm.Id);
        (Power(after), Domid(after)).ShouldBe(("Running", Domid(running)));
        (await pool.GetAsync($"/api/vms/{vm.Id}/history")).EnumerateArray().Select(e => e.GetProperty("type").GetString()).ShouldContain("operation_abandoned");
        await pool.AssertNothingLeftAsync();
        (await client.DeleteAsync($"/api/hosts/{host}/hypervisor/faults", ct)).EnsureSuccessStatusCode();
        Power(await PostOkAsync(client, $"/api/vms/{vm.Id}/pause")).ShouldBe("Paused", "the VM is still usable");
        Power(await PostOkAsync(client, $"/api/vms/{vm.Id}/unpause")).ShouldBe("Running");
    }

    [Fact]
    public async Task A_guest_that_powers_off_while_an_operation_owns_its_VM_is_followed_once_the_operation_ends()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync();
        var vm = await pool.VmAsync(new VmSpec { ActionsAfterShutdown = "destroy" });
        var running = await PostOkAsync(client, $"/api/vms/{vm.Id}/start");

        // Given a pause stuck in the hypervisor (so abandoned at its 1 s deadline), during which the guest powers itself off:
        // the stop is reported while the pause owns the VM, and the pause then ends with the domain still there (shut down)
        (await client.PostAsJsonAsync($"/api/hosts/{host}/hypervisor/faults", new { step = "pause", delayMs = 600_000 }, ct)).EnsureSuccessStatusCode();
        var pausing = await AcceptedAsync(await client.PostAsync($"/api/vms/{vm.Id}/pause?async=true", null, ct));
        (await client.PostAsJsonAsync($"/api/hosts/{host}/hypervisor/domains/{Domid(running)}/guest-shutdown", new { reason = "poweroff" }, ct)).EnsureSuccessStatusCode();
        (await client.DeleteAsync($"/api/hosts/{host}/hypervisor/faults", ct)).EnsureSuccessStatusCode();

        // Then the agent still follows the stop (actions_after_shutdown = destroy) once the pause has ended: Halted, nothing open
        var halted = await pool.VmRecordAsync(vm.Id);
        for (var until = DateTime.UtcNow.AddSeconds(20); !(Power(halted) == "Halted" && halted.GetProperty("currentOperations").EnumerateObject().Count() == 0); )
        {
            DateTime.UtcNow.ShouldBeLessThan(until, $"the guest's stop was never followed: {halted}");
            await Task.Delay(TimeSpan.FromMilliseconds(100), ct); // polling the API for the agent's sweep, not waiting for time to pass
            halted = await pool.VmRecordAsync(vm.Id);
        }

        Domid(halted).ShouldBe(-1);
        var task = await pool.GetAsync($"/api/tasks/{pausing.GetProperty("taskId").GetGuid()}");
        task.GetProperty("status").GetString().ShouldNotBe("pending", task.ToString());
        var types = (await pool.GetAsync($"/api/vms/{vm.Id}/history")).EnumerateArray().Select(e => e.GetProperty("type").GetString()).ToList();
        types.ShouldContain("domain_stopped_by_itself");
        (await pool.GetAsync($"/api/hosts/{host}/hypervisor/domains")).EnumerateArray().ShouldNotContain(d => d.GetProperty("vm").GetGuid() == vm.Id);
        await pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task A_fault_at_unpause_fails_it_and_leaves_the_vm_paused()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync();
        var vm = await pool.VmAsync();
        var paused = await (await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start", new { paused = true }, ct)).ShouldBeOkAsync();
        (await client.PostAsJsonAsync($"/api/hosts/{host}/hypervisor/faults", new { step = "unpause", error = "INTERNAL_ERROR" }, ct)).EnsureSuccessStatusCode();

        await (await client.PostAsync($"/api/vms/{vm.Id}/unpause", null, ct)).ShouldBeProblemWithCode(HttpStatusCode.Conflict, "INTERNAL_ERROR");

        var after = await pool.VmRecordAsync(vm.Id);
        (Power(after), Domid(after)).ShouldBe(("Paused", Domid(paused)));
        await pool.AssertNothingLeftAsync();
        Power(await PostOkAsync(client, $"/api/vms/{vm.Id}/unpause")).ShouldBe("Running");
    }

    [Fact]
    public async Task Admin_operations_show_each_open_operation_with_its_deadline()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        await pool.HostAsync();
        var vm = await pool.VmAsync(new VmSpec { OtherConfig = new() { ["simulator.ignore_shutdown"] = "true" } });
        await PostOkAsync(client, $"/api/vms/{vm.Id}/start");
        var task = (await AcceptedAsync(await client.PostAsync($"/api/vms/{vm.Id}/clean-shutdown?async=true", null, ct))).GetProperty("taskId").GetGuid();

        var open = (await pool.OpenOperationsAsync()).Single(o => o.GetProperty("taskId").GetGuid() == task);

        (open.GetProperty("op").GetString(), open.GetProperty("deadlineSeconds").GetDouble()).ShouldBe(("clean_shutdown", 2.0));
        open.GetProperty("ageSeconds").GetDouble().ShouldBeLessThan(2.0);
        await pool.GetAsync($"/api/tasks/{task}?minVersion=2"); // the task ends at its deadline
        (await pool.OpenOperationsAsync()).ShouldNotContain(o => o.GetProperty("taskId").GetGuid() == task);
    }
}
