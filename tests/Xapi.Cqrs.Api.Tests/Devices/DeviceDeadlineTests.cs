using System.Net;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Devices;

/// <summary>A service whose device plugs and unplugs may stay open for one second (Xapi:Deadlines:plug, :unplug).</summary>
public sealed class DeviceDeadlineServer : XapiServer
{
    protected override IEnumerable<string> Settings => ["--Xapi:Deadlines:plug=00:00:01", "--Xapi:Deadlines:unplug=00:00:01"];
}

/// <summary>
/// A plug or unplug hung in the hypervisor past its deadline is stopped and ended by the agent of the VM's host
/// (OperationAbandoned): rolled back, its task failed, nothing left open (DESIGN.md "Streams, events, consistency").
/// </summary>
public sealed class DeviceDeadlineTests(DeviceDeadlineServer server) : IClassFixture<DeviceDeadlineServer>
{
    [Fact]
    public async Task Plug_and_unplug_hung_past_their_deadline_are_rolled_back_and_fail()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        await client.PostOk($"/api/vbds/{s.Disk}/unplug");
        await client.Fault(s.Host, new { step = "vbd_plug", delayMs = 600_000 });
        await client.Fault(s.Host, new { step = "vif_unplug", delayMs = 600_000 });

        await (await client.PostEmpty($"/api/vbds/{s.Disk}/plug"))
            .ShouldBeProblem(HttpStatusCode.Conflict, "INTERNAL_ERROR", "plug abandoned: open past its deadline of 00:00:01");
        await (await client.PostEmpty($"/api/vifs/{s.Vif}/unplug"))
            .ShouldBeProblem(HttpStatusCode.Conflict, "INTERNAL_ERROR", "unplug abandoned: open past its deadline of 00:00:01");

        (await client.GetJson($"/api/vbds/{s.Disk}")).Attached().ShouldBeFalse("the plug was rolled back");
        (await client.XenstoreHas(s.Host, s.VbdPaths(0).Frontend)).ShouldBeFalse();
        (await client.GetJson($"/api/vifs/{s.Vif}")).Attached().ShouldBeTrue("the unplug never happened");
        (await client.XenstoreHas(s.Host, s.VifPaths(0).Frontend)).ShouldBeTrue();
        await s.Pool.AssertNothingLeftAsync();
        var abandoned = (await client.GetJson($"/api/vms/{s.Vm.Id}/history")).EnumerateArray()
            .Where(e => e.GetProperty("type").GetString() == "operation_abandoned").Select(e => e.GetProperty("stream").GetGuid()).ToList();
        abandoned.ShouldBe([s.Disk, s.Vif], ignoreOrder: true);

        (await client.PostOk($"/api/vbds/{s.Disk}/plug")).Attached().ShouldBeTrue("the device works again");
    }
}
