using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;

namespace Xapi.Cqrs.Api.Tests.Cluster;

/// <summary>
/// Issue 11, several service nodes on one database: two service processes (same schema, data directory and admin token)
/// and two external hosts, each driven by its own agent process. Commands go through either node, reads answer the same
/// from either, placement decides one batch at a time across them (the placement lease), the daemon (HotCold) moves to the
/// survivor when its node is killed, and a killed agent's host goes not live and comes back reconciled.
/// </summary>
public sealed class ServiceNodesTests
{
    private static readonly string[] StartRefusals = ["NO_HOSTS_AVAILABLE", "HOST_NOT_ENOUGH_FREE_MEMORY"];

    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Hundred_starts_through_two_nodes_on_two_external_hosts_never_overcommit_and_killed_agents_come_back_reconciled()
    {
        await using var deployment = await Deployment.StartAsync("nodes", ct);
        var (first, second) = (deployment.Nodes[0], deployment.Nodes[1]);
        using var client1 = first.Client();
        using var client2 = second.Client();
        var pool = await Pool.CreateAsync(client1, ct);
        var spec = new VmSpec { DynamicMin = 256 * Pool.MiB, DynamicMax = 256 * Pool.MiB, StaticMin = 128 * Pool.MiB, StaticMax = 512 * Pool.MiB, VcpusMax = 1, VcpusAtStartup = 1, Disk = false };
        var probe = await pool.VmAsync(spec);
        var probeRecord = await pool.VmRecordAsync(probe.Id);
        var perVm = probeRecord.GetProperty("memoryDynamicMin").GetInt64() + probeRecord.GetProperty("memoryOverhead").GetInt64();
        // Room for 30 VMs on each host: 60 of the 100 run, 40 are refused.
        await deployment.AddHostsAsync(pool, client1, 2, memoryTotal: (30 * perVm) + (perVm / 2));
        await Parallel.ForAsync(1, 100, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (_, _) => await pool.VmAsync(spec));
        pool.Vms.Count.ShouldBe(100);

        // Every other start through the other node; half of each node's through ?async=true, its task followed on the other node.
        var clients = new[] { client1, client2 };
        var outcomes = await Task.WhenAll(pool.Vms.Select((vm, i) => StartAsync(clients[i % 2], clients[(i + 1) % 2], vm.Id, async: i % 4 >= 2)));

        var failures = outcomes.Where(o => o.Code is not null && !StartRefusals.Contains(o.Code)).ToList();
        failures.ShouldBeEmpty(string.Join("\n", failures.Select(f => $"{f.Vm}: {f.Code} {f.Body}")) + "\n" + deployment.Output);
        outcomes.Count(o => o.Code is null).ShouldBe(60, string.Join("\n", outcomes.Where(o => o.Code is not null).Select(o => o.Body)));
        outcomes.Count(o => o.Code is not null).ShouldBe(40);
        foreach (var refused in outcomes.Where(o => o.Code is not null))
        {
            (await client2.GetJson($"/api/vms/{refused.Vm}")).GetProperty("powerState").GetString().ShouldBe("Halted");
        }

        await pool.AssertNoOvercommitAsync("100 starts through two nodes");
        foreach (var node in clients)
        {
            (await node.GetJson("/api/admin/operations")).GetArrayLength().ShouldBe(0, "no operation left open");
            foreach (var host in pool.Hosts)
            {
                var record = await node.GetJson($"/api/hosts/{host}");
                record.GetProperty("memoryFree").GetInt64().ShouldBeGreaterThanOrEqualTo(0);
                record.GetProperty("residentVms").GetArrayLength().ShouldBe(30);
            }
        }

        // Reads answer the same through either node (inline projections: written with the events).
        foreach (var host in pool.Hosts)
        {
            (await client2.GetJson($"/api/hosts/{host}")).GetRawText().ShouldBe((await client1.GetJson($"/api/hosts/{host}")).GetRawText());
        }

        // Both nodes decided starts, each batch under the placement lease.
        foreach (var node in clients)
        {
            (await node.GetJson("/api/admin/counters")).GetProperty("startsDecided").GetInt64().ShouldBeGreaterThan(0);
        }

        // Both agents killed: both hosts not live within the timeout; restarted: live again, their VMs still running with their domids.
        var running = new Dictionary<Guid, (Guid Host, long Domid)>();
        foreach (var vm in outcomes.Where(o => o.Code is null).Select(o => o.Vm))
        {
            var record = await client1.GetJson($"/api/vms/{vm}");
            running[vm] = (record.GetProperty("residentOn").GetGuid(), record.GetProperty("domid").GetInt64());
        }

        await Task.WhenAll(deployment.Agents.Select(a => a.KillAsync()));
        await Task.WhenAll(deployment.Agents.Select((a, i) => a.UntilLiveAsync(clients[i % 2], false, TimeSpan.FromSeconds(3 + 5), ct)));
        deployment.Agents.ForEach(a => a.Start());
        await Task.WhenAll(deployment.Agents.Select((a, i) => a.UntilLiveAsync(clients[(i + 1) % 2], true, TimeSpan.FromSeconds(60), ct)));
        foreach (var (vm, (host, domid)) in running)
        {
            var record = await client2.GetJson($"/api/vms/{vm}");
            record.GetProperty("powerState").GetString().ShouldBe("Running", deployment.Output);
            record.GetProperty("residentOn").GetGuid().ShouldBe(host);
            record.GetProperty("domid").GetInt64().ShouldBe(domid, "the restarted agent found its domain on its hypervisor");
        }

        // The restarted agents drive their hosts again: on each host, one VM shut down through one node, a refused one started through the other.
        var refusedVms = outcomes.Where(o => o.Code is not null).Select(o => o.Vm).ToList();
        for (var h = 0; h < pool.Hosts.Count; h++)
        {
            var victim = running.First(r => r.Value.Host == pool.Hosts[h]).Key;
            await (await clients[h % 2].PostAsync($"/api/vms/{victim}/hard-shutdown", null, ct)).ShouldBeOkAsync();
            var started = await (await clients[(h + 1) % 2].PostAsJsonAsync($"/api/vms/{refusedVms[h]}/start-on", new { host = pool.Hosts[h] }, ct)).ShouldBeOkAsync();
            started.GetProperty("powerState").GetString().ShouldBe("Running");
        }

        await pool.AssertNoOvercommitAsync("after the agents' restart");
    }

    [Fact]
    public async Task Killing_the_node_that_runs_the_daemon_moves_it_to_the_other_within_10_s_while_starts_through_it_finish()
    {
        await using var deployment = await Deployment.StartAsync("nodes", ct);
        var (holder, survivor) = await deployment.DaemonHolderAsync(TimeSpan.FromSeconds(30));
        using var client = survivor.Client();
        var pool = await Pool.CreateAsync(client, ct);
        await deployment.AddHostsAsync(pool, client, 2, memoryTotal: 16 * Pool.GiB);
        var spec = new VmSpec { DynamicMin = 256 * Pool.MiB, DynamicMax = 256 * Pool.MiB, StaticMin = 128 * Pool.MiB, StaticMax = 512 * Pool.MiB, VcpusMax = 1, VcpusAtStartup = 1, Disk = false };
        await Parallel.ForAsync(0, 24, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (_, _) => await pool.VmAsync(spec));

        // Starts in flight through the survivor when the daemon's node dies.
        var starts = pool.Vms.Select((vm, i) => StartAsync(client, client, vm.Id, async: i % 2 == 1)).ToList();
        var killed = Stopwatch.StartNew();
        await holder.KillAsync();
        var moved = await survivor.UntilDaemonLeaderAsync(TimeSpan.FromSeconds(10), ct);
        var takeover = killed.Elapsed;
        moved.GetProperty("node").GetString().ShouldBe(survivor.NodeName);
        moved.GetProperty("shards").EnumerateArray().ShouldAllBe(s => s.GetProperty("status").GetString() == "running");

        var outcomes = await Task.WhenAll(starts);
        outcomes.Where(o => o.Code is not null).ShouldBeEmpty(string.Join("\n", outcomes.Select(o => o.Body)) + "\n" + survivor.Output);
        await pool.AssertNoOvercommitAsync("after the daemon moved");
        (await client.GetJson("/api/admin/operations")).GetArrayLength().ShouldBe(0);

        // The async projections advance again, on the survivor: each reaches the log's head as it is now, after the kill.
        var asyncs = (await client.GetJson("/api/admin/projections")).EnumerateArray().Where(p => p.GetProperty("kind").GetString() == "async")
            .Select(p => p.GetProperty("name").GetString()!).ToList();
        asyncs.ShouldNotBeEmpty();
        var head = (await client.GetJson("/api/admin/projections")).EnumerateArray().First().GetProperty("highWaterMark").GetInt64();
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var behind = (await client.GetJson("/api/admin/projections")).EnumerateArray()
                .Where(p => asyncs.Contains(p.GetProperty("name").GetString()!) && p.GetProperty("position").GetInt64() < head).ToList();
            if (behind.Count == 0)
            {
                break;
            }

            DateTime.UtcNow.ShouldBeLessThan(until, $"async projections still behind {head}: {string.Join(", ", behind.Select(b => b.GetRawText()))}\n{survivor.Output}");
            await Task.Delay(TimeSpan.FromMilliseconds(100), ct); // polling the API, not waiting for time to pass
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"daemon takeover after SIGKILL: {takeover.TotalSeconds:0.00} s");
    }

    /// <summary>
    /// One start through <paramref name="via"/>: synchronous (200 VM record or the refusal), or <c>?async=true</c> with its
    /// task followed through <paramref name="follow"/> until it ends. Code null: Running; else the xapi code it ended with
    /// (anything but a 200, 202 or 409 is recorded as its HTTP status).
    /// </summary>
    private async Task<StartOutcome> StartAsync(HttpClient via, HttpClient follow, Guid vm, bool async)
    {
        var response = await via.PostAsJsonAsync($"/api/vms/{vm}/start{(async ? "?async=true" : "")}", new { }, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        if (!async || response.StatusCode != HttpStatusCode.Accepted)
        {
            return response.StatusCode switch
            {
                HttpStatusCode.OK when JsonDocument.Parse(body).RootElement.GetProperty("powerState").GetString() == "Running" => new(vm, null, body),
                HttpStatusCode.Conflict => new(vm, JsonDocument.Parse(body).RootElement.GetProperty("code").GetString(), body),
                _ => new(vm, $"HTTP {(int)response.StatusCode}", body),
            };
        }

        var taskId = JsonDocument.Parse(body).RootElement.GetProperty("taskId").GetGuid();
        var until = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (true)
        {
            var task = await follow.GetJson($"/api/tasks/{taskId}");
            switch (task.GetProperty("status").GetString())
            {
                case "success":
                    var record = await follow.GetJson($"/api/vms/{vm}");
                    return new(vm, record.GetProperty("powerState").GetString() == "Running" ? null : "not running", record.GetRawText());
                case "failure" or "cancelled":
                    return new(vm, task.GetProperty("errorInfo")[0].GetString(), task.GetRawText());
            }

            if (DateTime.UtcNow > until)
            {
                return new(vm, "task still pending", task.GetRawText());
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), ct); // polling the task, not waiting for time to pass
        }
    }

    private sealed record StartOutcome(Guid Vm, string? Code, string Body);
}
