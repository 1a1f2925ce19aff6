using System.Net;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Devices;

/// <summary>
/// Faults injected at the vbd_plug, vif_plug, vbd_unplug and vif_unplug steps of the simulated hypervisor: the answer is
/// the error in xapi's code and params, everything is undone (the device as it was, the disk as it was held, nothing left
/// marked, the task failed with the same error), and the next try succeeds.
/// </summary>
public sealed class DeviceFaultTests(XapiServer server) : IClassFixture<XapiServer>
{
    [Fact]
    public async Task Vbd_plug_fault_leaves_the_disk_detached_and_free_and_the_next_plug_succeeds()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        await client.PostOk($"/api/vbds/{s.Disk}/unplug");
        await client.Fault(s.Host, new { step = "vbd_plug", error = "INTERNAL_ERROR" });
        var (frontend, _) = s.VbdPaths(0);

        var task = await (await client.PostEmpty($"/api/vbds/{s.Disk}/plug?async=true")).AcceptedTask();
        var failed = await client.FinishedTask(task);

        failed.GetProperty("status").GetString().ShouldBe("failure");
        var error = failed.GetProperty("errorInfo").EnumerateArray().Select(e => e.GetString()!).ToArray();
        error[0].ShouldBe("INTERNAL_ERROR");
        error[1].ShouldContain("vbd_plug");
        var vbd = await client.GetJson($"/api/vbds/{s.Disk}");
        vbd.Attached().ShouldBeFalse();
        vbd.GetProperty("currentOperations").EnumerateObject().ShouldBeEmpty();
        (await client.XenstoreHas(s.Host, frontend)).ShouldBeFalse();
        (await client.GetJson($"/api/vdis/{s.Vm.Vdis[0]}")).GetProperty("holders").EnumerateObject().ShouldBeEmpty("the plug's hold is given back");
        await s.Pool.AssertNothingLeftAsync();

        (await client.PostOk($"/api/vbds/{s.Disk}/plug")).Attached().ShouldBeTrue("the fault was used up");
    }

    [Fact]
    public async Task Sync_plug_fault_answers_the_error_in_xapis_code()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        await client.PostOk($"/api/vifs/{s.Vif}/unplug");
        await client.Fault(s.Host, new { step = "vif_plug", error = "INTERNAL_ERROR" });

        var problem = await (await client.PostEmpty($"/api/vifs/{s.Vif}/plug")).ShouldBeProblemWithCode(HttpStatusCode.Conflict, "INTERNAL_ERROR");

        problem.Params().ShouldHaveSingleItem().ShouldContain("vif_plug");
        (await client.GetJson($"/api/vifs/{s.Vif}")).Attached().ShouldBeFalse();
        (await client.XenstoreHas(s.Host, s.VifPaths(0).Frontend)).ShouldBeFalse();
        await s.Pool.AssertNothingLeftAsync();
        (await client.PostOk($"/api/vifs/{s.Vif}/plug")).Attached().ShouldBeTrue();
    }

    [Fact]
    public async Task Unplug_faults_leave_the_devices_attached_and_plugged()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        await client.Fault(s.Host, new { step = "vbd_unplug", error = "INTERNAL_ERROR" });
        await client.Fault(s.Host, new { step = "vif_unplug", error = "INTERNAL_ERROR" });

        (await (await client.PostEmpty($"/api/vbds/{s.Disk}/unplug")).ShouldBeProblemWithCode(HttpStatusCode.Conflict, "INTERNAL_ERROR"))
            .Params().ShouldHaveSingleItem().ShouldContain("vbd_unplug");
        (await (await client.PostEmpty($"/api/vifs/{s.Vif}/unplug")).ShouldBeProblemWithCode(HttpStatusCode.Conflict, "INTERNAL_ERROR"))
            .Params().ShouldHaveSingleItem().ShouldContain("vif_unplug");

        (await client.GetJson($"/api/vbds/{s.Disk}")).Attached().ShouldBeTrue();
        (await client.GetJson($"/api/vifs/{s.Vif}")).Attached().ShouldBeTrue();
        (await client.XenstoreHas(s.Host, s.VbdPaths(0).Frontend)).ShouldBeTrue();
        (await client.XenstoreHas(s.Host, s.VifPaths(0).Frontend)).ShouldBeTrue();
        (await client.GetJson($"/api/vdis/{s.Vm.Vdis[0]}")).GetProperty("holders").EnumerateObject().Select(h => h.Name).ShouldBe([s.Disk.ToString()]);
        await s.Pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Detach_whose_unplug_fails_keeps_the_vbd_attached_and_answers_the_error()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        await client.Fault(s.Host, new { step = "vbd_unplug", error = "INTERNAL_ERROR" });

        await (await client.PostEmpty($"/api/vbds/{s.Disk}/detach")).ShouldBeProblemWithCode(HttpStatusCode.Conflict, "INTERNAL_ERROR");

        (await client.GetJson($"/api/vbds/{s.Disk}")).Attached().ShouldBeTrue();
        (await client.GetJson($"/api/vms/{s.Vm.Id}")).Ids("vbds").ShouldContain(s.Disk);
        await s.Pool.AssertNothingLeftAsync();
    }

    // The choice for a failed attach: the VBD is destroyed again (as xe vm-disk-add does) and the plug's error answered.
    [Fact]
    public async Task Attach_whose_plug_fails_destroys_the_new_vbd_and_answers_the_plugs_error()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        var vdi = await s.Pool.VdiAsync();
        await client.Fault(s.Host, new { step = "vbd_plug", error = "INTERNAL_ERROR" });

        var problem = await (await client.Post($"/api/vms/{s.Vm.Id}/vbds", new { vdiId = vdi, userdevice = "1", mode = "RW", type = "Disk", plug = true }))
            .ShouldBeProblemWithCode(HttpStatusCode.Conflict, "INTERNAL_ERROR");

        problem.Params().ShouldHaveSingleItem().ShouldContain("vbd_plug");
        (await client.GetJson($"/api/vms/{s.Vm.Id}")).Ids("vbds").ShouldBe(s.Vm.Vbds, "the VM no longer lists the attach's VBD");
        var history = (await client.GetJson($"/api/vms/{s.Vm.Id}/history")).EnumerateArray().ToList();
        var added = history.Last(e => e.GetProperty("type").GetString() == "vbd_added").GetProperty("data").GetProperty("vbdId").GetGuid();
        history.Last(e => e.GetProperty("type").GetString() == "vbd_removed").GetProperty("data").GetProperty("vbdId").GetGuid().ShouldBe(added);
        await (await client.GetAsync($"/api/vbds/{added}", TestContext.Current.CancellationToken))
            .ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VBD", added.ToString());
        (await client.GetJson($"/api/vdis/{vdi}")).GetProperty("holders").EnumerateObject().ShouldBeEmpty();
        (await client.XenstoreHas(s.Host, s.VbdPaths(1).Frontend)).ShouldBeFalse();
        await s.Pool.AssertNothingLeftAsync();

        // The position and the disk are free again: the same attach now succeeds.
        var again = await (await client.Post($"/api/vms/{s.Vm.Id}/vbds", new { vdiId = vdi, userdevice = "1", mode = "RW", type = "Disk", plug = true })).CreatedId();
        (await client.GetJson($"/api/vbds/{again}")).Attached().ShouldBeTrue();
    }
}
