using System.Net;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;

namespace Xapi.Cqrs.Api.Tests.Devices;

/// <summary>
/// xapi's refusals of plug and unplug, in the order of XAPI.md §2.1 and §2.2, with their codes and params; a refusal
/// writes nothing and leaves nothing marked.
/// </summary>
public sealed class RefusalTests(XapiServer server) : IClassFixture<XapiServer>
{
    private static async Task<long> VersionAsync(HttpClient client, string path) => (await client.GetJson(path)).GetProperty("version").GetInt64();

    [Fact]
    public async Task Attached_device_plug_fails_with_device_already_attached()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        var version = await VersionAsync(client, $"/api/vbds/{s.Disk}");

        await (await client.PostEmpty($"/api/vbds/{s.Disk}/plug")).ShouldBeProblem(HttpStatusCode.Conflict, "DEVICE_ALREADY_ATTACHED", s.Disk.ToString());
        await (await client.PostEmpty($"/api/vifs/{s.Vif}/plug")).ShouldBeProblem(HttpStatusCode.Conflict, "DEVICE_ALREADY_ATTACHED", s.Vif.ToString());

        (await VersionAsync(client, $"/api/vbds/{s.Disk}")).ShouldBe(version);
        await s.Pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Detached_device_unplug_fails_with_device_already_detached()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        await client.PostOk($"/api/vbds/{s.Disk}/unplug");
        await client.PostOk($"/api/vifs/{s.Vif}/unplug");

        await (await client.PostEmpty($"/api/vbds/{s.Disk}/unplug")).ShouldBeProblem(HttpStatusCode.Conflict, "DEVICE_ALREADY_DETACHED", s.Disk.ToString());
        await (await client.PostEmpty($"/api/vifs/{s.Vif}/unplug")).ShouldBeProblem(HttpStatusCode.Conflict, "DEVICE_ALREADY_DETACHED", s.Vif.ToString());
        await s.Pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Halted_vm_plug_and_unplug_fail_with_vm_bad_power_state()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, TestContext.Current.CancellationToken);
        var vm = await pool.VmAsync(new VmSpec { DomainType = "pv" });
        var version = await VersionAsync(client, $"/api/vbds/{vm.Vbds[0]}");

        foreach (var path in new[] { $"/api/vbds/{vm.Vbds[0]}/plug", $"/api/vbds/{vm.Vbds[0]}/unplug", $"/api/vifs/{vm.Vifs[0]}/plug", $"/api/vifs/{vm.Vifs[0]}/unplug" })
        {
            await (await client.PostEmpty(path)).ShouldBeProblem(HttpStatusCode.Conflict, "VM_BAD_POWER_STATE", vm.Id.ToString(), "running", "halted");
        }

        (await VersionAsync(client, $"/api/vbds/{vm.Vbds[0]}")).ShouldBe(version);
        (await client.GetJson($"/api/vbds/{vm.Vbds[0]}")).AllowedOperations().ShouldBe(["attach"]);
        await pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Vm_shutting_down_refuses_plug_and_unplug_with_operation_not_allowed()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        await client.Fault(s.Host, new { step = "shutdown", delayMs = 600_000 });
        var shutdown = await (await client.PostEmpty($"/api/vms/{s.Vm.Id}/clean-shutdown?async=true")).AcceptedTask();
        (await client.GetJson($"/api/vms/{s.Vm.Id}")).GetProperty("currentOperations").GetProperty(shutdown.ToString()).GetString().ShouldBe("clean_shutdown");
        var reason = $"Current operation on VM:{s.Vm.Id} is clean_shutdown";

        await (await client.PostEmpty($"/api/vbds/{s.Disk}/unplug")).ShouldBeProblem(HttpStatusCode.Conflict, "OPERATION_NOT_ALLOWED", reason);
        await (await client.PostEmpty($"/api/vifs/{s.Vif}/unplug")).ShouldBeProblem(HttpStatusCode.Conflict, "OPERATION_NOT_ALLOWED", reason);

        // A hard shutdown overtakes the clean one; then nothing is left open.
        (await client.PostOk($"/api/vms/{s.Vm.Id}/hard-shutdown")).GetProperty("powerState").GetString().ShouldBe("Halted");
        await s.Pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Device_busy_with_a_plug_refuses_another_operation_with_other_operation_in_progress()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        var ct = TestContext.Current.CancellationToken;
        await client.PostOk($"/api/vbds/{s.Disk}/unplug");
        await client.PostOk($"/api/vifs/{s.Vif}/unplug");
        await client.Fault(s.Host, new { step = "vbd_plug", delayMs = 1500 });
        await client.Fault(s.Host, new { step = "vif_plug", delayMs = 1500 });

        var vbdPlug = await (await client.PostEmpty($"/api/vbds/{s.Disk}/plug?async=true")).AcceptedTask();
        var vifPlug = await (await client.PostEmpty($"/api/vifs/{s.Vif}/plug?async=true")).AcceptedTask();

        await (await client.PostEmpty($"/api/vbds/{s.Disk}/plug"))
            .ShouldBeProblem(HttpStatusCode.Conflict, "OTHER_OPERATION_IN_PROGRESS", "VBD", s.Disk.ToString(), "plug", vbdPlug.ToString());
        await (await client.DeleteAsync($"/api/vbds/{s.Disk}", ct))
            .ShouldBeProblem(HttpStatusCode.Conflict, "OTHER_OPERATION_IN_PROGRESS", "VBD", s.Disk.ToString(), "plug", vbdPlug.ToString());
        await (await client.PostEmpty($"/api/vifs/{s.Vif}/unplug"))
            .ShouldBeProblem(HttpStatusCode.Conflict, "OTHER_OPERATION_IN_PROGRESS", "VIF", s.Vif.ToString(), "{plug}", $"{{{vifPlug}}}");
        var open = await s.Pool.OpenOperationsAsync();
        open.Select(o => (o.GetProperty("class").GetString(), o.GetProperty("op").GetString())).ShouldBe([("VBD", "plug"), ("VIF", "plug")], ignoreOrder: true);

        (await client.FinishedTask(vbdPlug)).GetProperty("status").GetString().ShouldBe("success");
        (await client.FinishedTask(vifPlug)).GetProperty("status").GetString().ShouldBe("success");
        (await client.GetJson($"/api/vbds/{s.Disk}")).Attached().ShouldBeTrue();
        (await client.GetJson($"/api/vifs/{s.Vif}")).Attached().ShouldBeTrue();
        await s.Pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Plug_of_a_disk_another_running_vm_holds_fails_with_vdi_in_use()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        var other = await s.Pool.VmAsync(new VmSpec { DomainType = "pv", Disk = false });
        (await client.PostOk($"/api/vms/{other.Id}/start")).GetProperty("powerState").GetString().ShouldBe("Running");

        await (await client.Post($"/api/vms/{other.Id}/vbds", new { vdiId = s.Vm.Vdis[0], userdevice = "1", mode = "RW", type = "Disk", plug = true }))
            .ShouldBeProblem(HttpStatusCode.Conflict, "VDI_IN_USE", s.Vm.Vdis[0].ToString(), "plug");
        (await client.GetJson($"/api/vms/{other.Id}")).Ids("vbds").ShouldBeEmpty();
        await s.Pool.AssertNothingLeftAsync();
    }
}
