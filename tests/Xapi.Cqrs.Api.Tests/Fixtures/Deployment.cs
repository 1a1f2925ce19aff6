using System.Text.Json;
using Xapi.Cqrs.Api.Tests.Vms;

namespace Xapi.Cqrs.Api.Tests.Fixtures;

/// <summary>
/// A deployment of two service nodes on one schema (the second started once the first is healthy) and the agent
/// processes of its external hosts, all killed by pid when it is disposed.
/// </summary>
public sealed class Deployment : IAsyncDisposable
{
    private Deployment(List<ServiceProcess> nodes) => Nodes = nodes;

    public List<ServiceProcess> Nodes { get; }

    public List<AgentProcess> Agents { get; } = [];

    /// <summary>The last lines of every process, for a failing test's message.</summary>
    public string Output => string.Join("\n", Nodes.Select(n => $"--- {n.NodeName}\n{n.Output}").Concat(Agents.Select(a => $"--- agent {a.HostId}\n{a.Output}")));

    public static async Task<Deployment> StartAsync(string owner, CancellationToken ct)
    {
        var first = new ServiceProcess(owner, AgentProcess.QuickLiveness);
        var deployment = new Deployment([first, ServiceProcess.NodeOf(first)]);
        try
        {
            foreach (var node in deployment.Nodes)
            {
                await node.StartAsync(ct);
            }
        }
        catch
        {
            await deployment.DisposeAsync();
            throw;
        }

        return deployment;
    }

    /// <summary>Registers <paramref name="count"/> external hosts through <paramref name="client"/> and starts one agent process for each, until every host is live.</summary>
    public async Task AddHostsAsync(Pool pool, HttpClient client, int count, long memoryTotal)
    {
        var ct = TestContext.Current.CancellationToken;
        var added = new List<AgentProcess>();
        for (var i = 0; i < count; i++)
        {
            var host = await pool.HostAsync(memoryTotal: memoryTotal, memoryOverhead: 0, cpuCount: 64, agent: "external");
            var agent = new AgentProcess(Nodes[0], host, AgentProcess.QuickLiveness);
            Agents.Add(agent);
            added.Add(agent);
            agent.Start();
        }

        await Task.WhenAll(added.Select(a => a.UntilLiveAsync(client, true, TimeSpan.FromSeconds(60), ct)));
    }

    /// <summary>The node that runs the whole daemon and the other, once one does and the other runs none of it.</summary>
    public async Task<(ServiceProcess Holder, ServiceProcess Other)> DaemonHolderAsync(TimeSpan within)
    {
        var until = DateTime.UtcNow + within;
        while (true)
        {
            var states = new List<JsonElement>();
            foreach (var node in Nodes)
            {
                using var client = node.Client();
                states.Add(await client.GetJson("/api/admin/daemon"));
            }

            var leaders = states.Select((s, i) => (s, i)).Where(x => x.s.GetProperty("leader").GetBoolean()).ToList();
            if (leaders.Count == 1 && states.Where((_, i) => i != leaders[0].i)
                    .All(s => s.GetProperty("shards").EnumerateArray().All(shard => shard.GetProperty("status").GetString() == "cold")))
            {
                return (Nodes[leaders[0].i], Nodes[1 - leaders[0].i]);
            }

            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException($"no one node ran the whole daemon within {within}: {string.Join(" | ", states.Select(s => s.GetRawText()))}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), TestContext.Current.CancellationToken); // polling the API
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var agent in Agents)
        {
            await agent.DisposeAsync();
        }

        foreach (var node in Enumerable.Reverse(Nodes))
        {
            await node.DisposeAsync(); // the first last: it owns the data directory
        }
    }
}
