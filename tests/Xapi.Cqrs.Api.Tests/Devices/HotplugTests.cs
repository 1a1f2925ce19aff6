using System.Net;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;

namespace Xapi.Cqrs.Api.Tests.Devices;

/// <summary>
/// VBD and VIF plug/unplug on a running VM (API.md "VM lifecycle", XAPI.md §2.1, §2.2, §6.7): the answer is the device
/// record once the host has done it; the xenstore frontend and backend entries appear and go; nothing stays marked.
/// </summary>
public sealed class HotplugTests(XapiServer server) : IClassFixture<XapiServer>
{
    [Fact]
    public async Task Running_vm_vbd_unplug_then_plug_takes_its_xenstore_entries_away_and_back()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        var (frontend, backend) = s.VbdPaths(0);
        (await client.GetJson($"/api/vbds/{s.Disk}")).Attached().ShouldBeTrue();
        (await client.XenstoreHas(s.Host, frontend)).ShouldBeTrue();

        var unplugged = await client.PostOk($"/api/vbds/{s.Disk}/unplug");

        unplugged.Attached().ShouldBeFalse();
        unplugged.GetProperty("currentOperations").EnumerateObject().ShouldBeEmpty();
        unplugged.AllowedOperations().ShouldContain("plug");
        (await client.XenstoreHas(s.Host, frontend)).ShouldBeFalse("the frontend goes");
        (await client.XenstoreHas(s.Host, backend)).ShouldBeFalse("the backend goes");
        (await client.GetJson($"/api/hosts/{s.Host}/hypervisor/domains")).EnumerateArray().ShouldContain(d => d.GetProperty("vm").GetGuid() == s.Vm.Id);
        await s.Pool.AssertNothingLeftAsync();
        (await client.GetJson($"/api/vdis/{s.Vm.Vdis[0]}")).GetProperty("holders").EnumerateObject().ShouldBeEmpty("an unplugged disk is free");

        var plugged = await client.PostOk($"/api/vbds/{s.Disk}/plug");

        plugged.Attached().ShouldBeTrue();
        plugged.GetProperty("device").GetString().ShouldBe("xvda");
        plugged.AllowedOperations().ShouldContain("unplug");
        (await client.XenstoreHas(s.Host, frontend)).ShouldBeTrue("the frontend is back");
        (await client.XenstoreValue(s.Host, $"{backend}/hotplug-status")).ShouldBe("connected");
        (await client.XenstoreValue(s.Host, $"{backend}/online")).ShouldBe("1");
        await s.Pool.AssertNothingLeftAsync();
        (await client.GetJson($"/api/vdis/{s.Vm.Vdis[0]}")).GetProperty("holders").EnumerateObject().Select(h => h.Name).ShouldBe([s.Disk.ToString()]);

        var history = (await client.GetJson($"/api/vms/{s.Vm.Id}/history")).EnumerateArray()
            .Where(e => e.GetProperty("stream").GetGuid() == s.Disk).Select(e => e.GetProperty("type").GetString()).ToList();
        history.ShouldContain("vbd_unplugged");
        history.IndexOf("vbd_unplugged").ShouldBeLessThan(history.LastIndexOf("vbd_plugged"));
        history.ShouldContain("device_operation_forwarded");
    }

    [Fact]
    public async Task Running_vm_vif_unplug_then_plug_takes_its_xenstore_entries_away_and_back()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        var (frontend, backend) = s.VifPaths(0);
        (await client.XenstoreHas(s.Host, frontend)).ShouldBeTrue();

        var unplugged = await client.PostOk($"/api/vifs/{s.Vif}/unplug");

        unplugged.Attached().ShouldBeFalse();
        unplugged.AllowedOperations().ShouldContain("plug");
        (await client.XenstoreHas(s.Host, frontend)).ShouldBeFalse();
        (await client.XenstoreHas(s.Host, backend)).ShouldBeFalse();
        await s.Pool.AssertNothingLeftAsync();

        var plugged = await client.PostOk($"/api/vifs/{s.Vif}/plug");

        plugged.Attached().ShouldBeTrue();
        plugged.GetProperty("currentOperations").EnumerateObject().ShouldBeEmpty();
        (await client.XenstoreValue(s.Host, $"{frontend}/mac")).ShouldBe(plugged.GetProperty("mac").GetString());
        (await client.XenstoreValue(s.Host, $"{backend}/hotplug-status")).ShouldBe("connected");
        await s.Pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Async_unplug_answers_202_with_the_task_and_the_task_ends_with_the_device_detached()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();

        var task = await (await client.PostEmpty($"/api/vbds/{s.Disk}/unplug?async=true")).AcceptedTask();

        var done = await client.FinishedTask(task);
        done.GetProperty("status").GetString().ShouldBe("success", done.ToString());
        done.GetProperty("name").GetString().ShouldBe("VBD.unplug");
        done.GetProperty("objectId").GetGuid().ShouldBe(s.Disk);
        (await client.GetJson($"/api/vbds/{s.Disk}")).Attached().ShouldBeFalse();

        var vifTask = await (await client.PostEmpty($"/api/vifs/{s.Vif}/unplug?async=true")).AcceptedTask();
        (await client.FinishedTask(vifTask)).GetProperty("status").GetString().ShouldBe("success");
        (await client.GetJson($"/api/vifs/{s.Vif}")).Attached().ShouldBeFalse();
        await s.Pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Hvm_vm_with_pv_drivers_hot_plugs_a_disk_but_never_a_cd()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync(new VmSpec { DomainType = "hvm", Cd = true });
        var cd = s.Vm.Vbds[1];

        (await client.PostOk($"/api/vbds/{s.Disk}/unplug")).Attached().ShouldBeFalse();
        (await client.PostOk($"/api/vbds/{s.Disk}/plug")).Attached().ShouldBeTrue();

        await (await client.PostEmpty($"/api/vbds/{cd}/unplug"))
            .ShouldBeProblem(HttpStatusCode.Conflict, "OPERATION_NOT_ALLOWED", "HVM CDROMs cannot be hotplugged/unplugged, only inserted or ejected");
        (await client.GetJson($"/api/vbds/{cd}")).AllowedOperations().ShouldNotContain("unplug");
        await s.Pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Hvm_vm_without_pv_drivers_refuses_hot_plug_with_vm_missing_pv_drivers_and_writes_nothing()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync(new VmSpec { DomainType = "hvm", OtherConfig = new() { ["simulator.pv_drivers"] = "false" } });
        var vbdVersion = (await client.GetJson($"/api/vbds/{s.Disk}")).GetProperty("version").GetInt64();
        var vdi = await s.Pool.VdiAsync();

        await (await client.PostEmpty($"/api/vbds/{s.Disk}/unplug")).ShouldBeProblem(HttpStatusCode.Conflict, "VM_MISSING_PV_DRIVERS", s.Vm.Id.ToString());
        await (await client.PostEmpty($"/api/vifs/{s.Vif}/unplug")).ShouldBeProblem(HttpStatusCode.Conflict, "VM_MISSING_PV_DRIVERS", s.Vm.Id.ToString());
        await (await client.Post($"/api/vms/{s.Vm.Id}/vbds", new { vdiId = vdi, userdevice = "1", mode = "RW", type = "Disk", plug = true }))
            .ShouldBeProblem(HttpStatusCode.Conflict, "VM_MISSING_PV_DRIVERS", s.Vm.Id.ToString());

        (await client.GetJson($"/api/vbds/{s.Disk}")).GetProperty("version").GetInt64().ShouldBe(vbdVersion, "a refusal writes nothing");
        (await client.GetJson($"/api/vms/{s.Vm.Id}")).Ids("vbds").ShouldBe(s.Vm.Vbds, "the refused attach created nothing");
        (await client.GetJson($"/api/vbds/{s.Disk}")).AllowedOperations().ShouldNotContain("unplug");
        await s.Pool.AssertNothingLeftAsync();
    }
}
