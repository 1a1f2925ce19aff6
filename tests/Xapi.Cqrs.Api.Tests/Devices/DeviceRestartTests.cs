using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Devices;

/// <summary>
/// A plug and an unplug stuck in the hypervisor when the service stops: once it is started again, the agent finishes
/// both (the plug redone from a clean slate, the unplug redone), every task has ended and nothing is left open.
/// </summary>
public sealed class DeviceRestartTests(XapiServer server) : IClassFixture<XapiServer>
{
    [Fact]
    public async Task Open_plug_and_unplug_at_a_restart_are_finished()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        await client.PostOk($"/api/vbds/{s.Disk}/unplug");
        await client.Fault(s.Host, new { step = "vbd_plug", delayMs = 600_000 });
        await client.Fault(s.Host, new { step = "vif_unplug", delayMs = 600_000 });

        var plug = await (await client.PostEmpty($"/api/vbds/{s.Disk}/plug?async=true")).AcceptedTask();
        var unplug = await (await client.PostEmpty($"/api/vifs/{s.Vif}/unplug?async=true")).AcceptedTask();
        (await s.Pool.OpenOperationsAsync()).Count.ShouldBe(2);

        await server.RestartAsync();

        using var after = server.Client();
        var plugged = await after.FinishedTask(plug);
        plugged.GetProperty("status").GetString().ShouldBe("success", plugged.ToString());
        var unplugged = await after.FinishedTask(unplug);
        unplugged.GetProperty("status").GetString().ShouldBe("success", unplugged.ToString());
        (await after.GetJson($"/api/vbds/{s.Disk}")).Attached().ShouldBeTrue();
        (await after.GetJson($"/api/vifs/{s.Vif}")).Attached().ShouldBeFalse();
        (await after.XenstoreHas(s.Host, s.VbdPaths(0).Frontend)).ShouldBeTrue();
        (await after.XenstoreHas(s.Host, s.VifPaths(0).Frontend)).ShouldBeFalse();
        var open = (await after.GetJson("/api/admin/operations")).EnumerateArray()
            .Where(o => Guid.TryParse(o.GetProperty("id").GetString(), out var id) && s.Pool.AllIds.Contains(id));
        open.ShouldBeEmpty();
    }
}
