using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;

namespace Xapi.Cqrs.Api.Tests.Cluster;

/// <summary>
/// Issue 11, host agents as processes: a host registered with agent: external is driven only by its own agent process
/// (the real Xapi.Cqrs.HostAgent.dll), live only while that process heartbeats, and its VMs reconciled when it returns.
/// </summary>
public sealed class ExternalAgentTests
{
    private static readonly string[] Liveness = AgentProcess.QuickLiveness;

    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_external_agent_makes_its_host_live_runs_its_VMs_and_reconciles_them_after_a_kill()
    {
        await using var service = new ServiceProcess("extagent", Liveness);
        await service.StartAsync(ct);
        using var client = service.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var hostId = await PostAsync(client, "/api/hosts", new
        {
            nameLabel = pool.Name("host"), memoryTotal = 16 * Pool.GiB, cpuCount = 8, networks = new[] { pool.Network }, srs = new[] { pool.Sr },
            agent = "external",
        });
        var host = await pool.HostRecordAsync(hostId);
        host.GetProperty("agent").GetString().ShouldBe("external");
        host.GetProperty("live").GetBoolean().ShouldBeFalse("an external host is not live before its agent heartbeats");
        var vm = await pool.VmAsync();
        var vm2 = await pool.VmAsync();

        var refused = await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start-on", new { host = hostId }, ct);
        await ShouldBeHostNotLiveAsync(refused, "before the agent runs");

        await using var agent = new AgentProcess(service, hostId, Liveness);
        agent.Start();
        await agent.UntilLiveAsync(client, true, TimeSpan.FromSeconds(60), ct);

        var started = await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start-on", new { host = hostId }, ct);
        started.StatusCode.ShouldBe(HttpStatusCode.OK, await started.Content.ReadAsStringAsync(ct) + "\n" + agent.Output);
        var running = await pool.VmRecordAsync(vm.Id);
        running.GetProperty("powerState").GetString().ShouldBe("Running");
        running.GetProperty("residentOn").GetGuid().ShouldBe(hostId);
        var domid = running.GetProperty("domid").GetInt64();
        domid.ShouldBeGreaterThan(0);

        var pid = agent.Pid;
        await agent.KillAsync();
        await agent.UntilLiveAsync(client, false, TimeSpan.FromSeconds(3 + 5), ct);
        await ShouldBeHostNotLiveAsync(await client.PostAsJsonAsync($"/api/vms/{vm2.Id}/start-on", new { host = hostId }, ct), $"after agent {pid} was killed");

        agent.Start();
        await agent.UntilLiveAsync(client, true, TimeSpan.FromSeconds(60), ct);
        var after = await pool.VmRecordAsync(vm.Id);
        after.GetProperty("powerState").GetString().ShouldBe("Running", agent.Output);
        after.GetProperty("domid").GetInt64().ShouldBe(domid, "the restarted agent found its domain on its hypervisor");
        after.GetProperty("residentOn").GetGuid().ShouldBe(hostId);

        // The restarted agent drives its host again, from its own checkpoint: a new start runs there.
        var second = await client.PostAsJsonAsync($"/api/vms/{vm2.Id}/start-on", new { host = hostId }, ct);
        second.StatusCode.ShouldBe(HttpStatusCode.OK, await second.Content.ReadAsStringAsync(ct) + "\n" + agent.Output);
        (await pool.VmRecordAsync(vm2.Id)).GetProperty("powerState").GetString().ShouldBe("Running");
    }

    [Fact]
    public async Task A_bad_agent_value_is_invalid_value()
    {
        await using var service = new ServiceProcess("extagent", Liveness);
        await service.StartAsync(ct);
        using var client = service.Client();
        var response = await client.PostAsJsonAsync("/api/hosts", new { nameLabel = "h", memoryTotal = Pool.GiB, cpuCount = 1, agent = "remote" }, ct);
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        problem.GetRawText().ShouldContain("INVALID_VALUE");
        problem.GetRawText().ShouldContain("agent");
    }

    private async Task<Guid> PostAsync(HttpClient client, string path, object body)
    {
        var response = await client.PostAsJsonAsync(path, body, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        response.IsSuccessStatusCode.ShouldBeTrue(text);
        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetGuid();
    }

    private async Task ShouldBeHostNotLiveAsync(HttpResponseMessage response, string when)
    {
        var text = await response.Content.ReadAsStringAsync(ct);
        response.IsSuccessStatusCode.ShouldBeFalse($"{when}: {text}");
        text.ShouldContain("HOST_NOT_LIVE", customMessage: when);
    }
}
