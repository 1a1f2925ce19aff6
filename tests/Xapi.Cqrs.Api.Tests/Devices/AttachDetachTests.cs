using System.Net;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;

namespace Xapi.Cqrs.Api.Tests.Devices;

/// <summary>
/// AttachVbd (create with <c>plug: true</c>), DetachVbd, and DELETE of VBDs and VIFs (API.md, XAPI.md §2.1 "Other VBD
/// rules", §2.2): destroyed devices are gone from reads and from their VM, never from history.
/// </summary>
public sealed class AttachDetachTests(XapiServer server) : IClassFixture<XapiServer>
{
    private static async Task<(Guid Id, JsonElement Body)> CreatedAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        response.StatusCode.ShouldBe(HttpStatusCode.Created, text);
        var body = JsonDocument.Parse(text).RootElement.Clone();
        var id = body.GetProperty("id").GetGuid();
        response.Headers.Location!.ToString().ShouldBe($"/api/vbds/{id}");
        return (id, body);
    }

    [Fact]
    public async Task Attach_with_plug_on_a_running_vm_answers_201_once_the_disk_is_plugged()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        var vdi = await s.Pool.VdiAsync();

        var (id, body) = await CreatedAsync(await client.Post($"/api/vms/{s.Vm.Id}/vbds", new { vdiId = vdi, userdevice = "1", mode = "RW", type = "Disk", plug = true }));

        var vbd = await client.GetJson($"/api/vbds/{id}");
        vbd.Attached().ShouldBeTrue();
        vbd.GetProperty("device").GetString().ShouldBe("xvdb");
        vbd.GetProperty("currentOperations").EnumerateObject().ShouldBeEmpty();
        body.GetProperty("version").GetInt64().ShouldBe(vbd.GetProperty("version").GetInt64());
        (await client.GetJson($"/api/vms/{s.Vm.Id}")).Ids("vbds").ShouldContain(id);
        var (frontend, backend) = s.VbdPaths(1);
        (await client.XenstoreHas(s.Host, frontend)).ShouldBeTrue();
        (await client.XenstoreValue(s.Host, $"{backend}/hotplug-status")).ShouldBe("connected");
        (await client.GetJson($"/api/vdis/{vdi}")).GetProperty("holders").EnumerateObject().Select(h => h.Name).ShouldBe([id.ToString()]);
        await s.Pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Attach_with_plug_async_answers_202_with_the_task_and_the_new_vbd()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        var vdi = await s.Pool.VdiAsync();

        var response = await client.Post($"/api/vms/{s.Vm.Id}/vbds?async=true", new { vdiId = vdi, userdevice = "autodetect", mode = "RW", type = "Disk", plug = true });
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        var task = await response.AcceptedTask();
        var id = JsonDocument.Parse(text).RootElement.GetProperty("id").GetGuid();

        (await client.FinishedTask(task)).GetProperty("status").GetString().ShouldBe("success");
        var vbd = await client.GetJson($"/api/vbds/{id}");
        (vbd.Attached(), vbd.GetProperty("userdevice").GetString()).ShouldBe((true, "1"));
    }

    [Fact]
    public async Task Attach_with_plug_on_a_halted_vm_only_creates_the_vbd()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, TestContext.Current.CancellationToken);
        await pool.HostAsync();
        var vm = await pool.VmAsync(new VmSpec { DomainType = "pv" });
        var vdi = await pool.VdiAsync();

        var (id, body) = await CreatedAsync(await client.Post($"/api/vms/{vm.Id}/vbds", new { vdiId = vdi, userdevice = "1", mode = "RW", type = "Disk", plug = true }));

        body.GetProperty("version").GetInt64().ShouldBe(1);
        (await client.GetJson($"/api/vbds/{id}")).Attached().ShouldBeFalse();
        (await client.GetJson($"/api/vms/{vm.Id}")).Ids("vbds").ShouldContain(id);
        (await client.GetJson($"/api/vdis/{vdi}")).GetProperty("holders").EnumerateObject().ShouldBeEmpty();
        (await client.PostOk($"/api/vms/{vm.Id}/start")).GetProperty("powerState").GetString().ShouldBe("Running");
        (await client.GetJson($"/api/vbds/{id}")).Attached().ShouldBeTrue("it is plugged with the VM's other devices at start");
    }

    [Fact]
    public async Task Attach_on_a_taken_position_fails_with_device_already_exists_and_writes_nothing()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        var vdi = await s.Pool.VdiAsync();
        var version = (await client.GetJson($"/api/vms/{s.Vm.Id}")).GetProperty("version").GetInt64();

        await (await client.Post($"/api/vms/{s.Vm.Id}/vbds", new { vdiId = vdi, userdevice = "xvda", mode = "RW", type = "Disk", plug = true }))
            .ShouldBeProblem(HttpStatusCode.Conflict, "DEVICE_ALREADY_EXISTS", "xvda");

        (await client.GetJson($"/api/vms/{s.Vm.Id}")).GetProperty("version").GetInt64().ShouldBe(version);
        await s.Pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Detach_of_an_attached_vbd_unplugs_and_destroys_it()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        var (frontend, _) = s.VbdPaths(0);

        var vm = await client.PostOk($"/api/vbds/{s.Disk}/detach");

        vm.GetProperty("id").GetGuid().ShouldBe(s.Vm.Id);
        vm.Ids("vbds").ShouldNotContain(s.Disk);
        await (await client.GetAsync($"/api/vbds/{s.Disk}", TestContext.Current.CancellationToken))
            .ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VBD", s.Disk.ToString());
        (await client.XenstoreHas(s.Host, frontend)).ShouldBeFalse();
        (await client.GetJson($"/api/vdis/{s.Vm.Vdis[0]}")).GetProperty("holders").EnumerateObject().ShouldBeEmpty();
        var history = (await client.GetJson($"/api/vms/{s.Vm.Id}/history")).EnumerateArray().Select(e => e.GetProperty("type").GetString()).ToList();
        history.ShouldContain("vbd_removed");
        await s.Pool.AssertNothingLeftAsync();

        // Its position is free again, and the disk may go back in.
        var (again, _) = await CreatedAsync(await client.Post($"/api/vms/{s.Vm.Id}/vbds", new { vdiId = s.Vm.Vdis[0], userdevice = "0", mode = "RW", type = "Disk", plug = true }));
        (await client.GetJson($"/api/vbds/{again}")).Attached().ShouldBeTrue();
    }

    [Fact]
    public async Task Detach_of_a_detached_vbd_destroys_it_at_once()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, TestContext.Current.CancellationToken);
        var vm = await pool.VmAsync();

        var record = await client.PostOk($"/api/vbds/{vm.Vbds[0]}/detach");

        record.Ids("vbds").ShouldBeEmpty();
        await (await client.GetAsync($"/api/vbds/{vm.Vbds[0]}", TestContext.Current.CancellationToken))
            .ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VBD", vm.Vbds[0].ToString());
        await (await client.PostEmpty($"/api/vbds/{vm.Vbds[0]}/detach"))
            .ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VBD", vm.Vbds[0].ToString());
    }

    [Fact]
    public async Task Delete_of_an_attached_vbd_or_vif_is_refused_and_of_a_detached_one_destroys_it()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        var ct = TestContext.Current.CancellationToken;

        await (await client.DeleteAsync($"/api/vbds/{s.Disk}", ct))
            .ShouldBeProblem(HttpStatusCode.Conflict, "OPERATION_NOT_ALLOWED", $"VBD '{s.Disk}' still attached to '{s.Vm.Id}'");
        await (await client.DeleteAsync($"/api/vifs/{s.Vif}", ct))
            .ShouldBeProblem(HttpStatusCode.Conflict, "OPERATION_NOT_ALLOWED", "VIF currently attached to a running VM");

        await client.PostOk($"/api/vbds/{s.Disk}/unplug");
        await client.PostOk($"/api/vifs/{s.Vif}/unplug");
        (await client.DeleteAsync($"/api/vbds/{s.Disk}", ct)).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await client.DeleteAsync($"/api/vifs/{s.Vif}", ct)).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        var vm = await client.GetJson($"/api/vms/{s.Vm.Id}");
        vm.Ids("vbds").ShouldBeEmpty();
        vm.Ids("vifs").ShouldBeEmpty();
        await (await client.GetAsync($"/api/vifs/{s.Vif}", ct)).ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VIF", s.Vif.ToString());
        await (await client.DeleteAsync($"/api/vifs/{s.Vif}", ct)).ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VIF", s.Vif.ToString());
        await (await client.PostEmpty($"/api/vbds/{s.Disk}/plug")).ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VBD", s.Disk.ToString());
        var streams = (await client.GetJson($"/api/vms/{s.Vm.Id}/history")).EnumerateArray()
            .Where(e => e.GetProperty("type").GetString() is "vbd_removed" or "vif_removed").Select(e => e.GetProperty("data")).ToList();
        streams.Count.ShouldBe(2, "the VM's history records both removals");
        await s.Pool.AssertNothingLeftAsync();

        // A halted VM's devices are destroyed as they are.
        (await client.PostOk($"/api/vms/{s.Vm.Id}/hard-shutdown")).GetProperty("powerState").GetString().ShouldBe("Halted");
        var nic = await client.CreateVif(s.Vm.Id, s.Pool.Network, device: "3", mac: "02:00:00:00:00:33");
        (await client.DeleteAsync($"/api/vifs/{nic}", ct)).StatusCode.ShouldBe(HttpStatusCode.NoContent);
    }
}
