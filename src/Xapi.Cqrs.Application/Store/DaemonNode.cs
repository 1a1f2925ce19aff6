using JasperFx;
using JasperFx.Events.Daemon;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xapi.Cqrs.Application.Pipeline;

namespace Xapi.Cqrs.Application.Store;

/// <summary>This service node's name (Xapi:NodeName; by default the machine's name and the port it listens on).</summary>
public sealed record NodeIdentity(string Name)
{
    /// <summary>Xapi:NodeName, else <c>&lt;machine&gt;:&lt;port&gt;</c> of the first of <paramref name="urls"/> (ASP.NET Core's urls), else <c>&lt;machine&gt;:&lt;pid&gt;</c>.</summary>
    public static NodeIdentity From(string? configured, string? urls)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return new NodeIdentity(configured.Trim());
        }

        var first = urls?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        if (first is not null && Uri.TryCreate(first.Replace("://*", "://localhost", StringComparison.Ordinal).Replace("://+", "://localhost", StringComparison.Ordinal), UriKind.Absolute, out var uri))
        {
            return new NodeIdentity($"{Environment.MachineName}:{uri.Port}");
        }

        return new NodeIdentity($"{Environment.MachineName}:{Environment.ProcessId}");
    }
}

/// <summary>One shard of the store's daemon (an async projection or a subscription) and what this node does with it.</summary>
/// <param name="Name">The shard's identity, e.g. <c>snapshots:All</c> or <c>host-agents:All</c>.</param>
/// <param name="Status"><c>running</c>, <c>paused</c> or <c>stopped</c> when this node has an agent for it; <c>cold</c> when it has none (another node holds its lock).</param>
public sealed record DaemonShard(string Name, string Status);

/// <summary>GET /api/admin/daemon: which node runs the daemon. <paramref name="Leader"/>: this node runs every shard.</summary>
public sealed record DaemonStatus(string Node, string Mode, bool Leader, DateTimeOffset Since, IReadOnlyList<DaemonShard> Shards);

/// <summary>
/// Where the projection daemon runs. In HotCold mode Marten elects a leader per shard (one PostgreSQL advisory lock per
/// async projection or subscription, tried every <c>LeadershipPollingTime</c>); the node that holds a shard's lock runs
/// its agent, the others are cold for it. This reads the daemon of this process for that, and every
/// <see cref="Poll"/> notes when this node became, or stopped being, the daemon's leader (all shards here), for
/// <see cref="DaemonStatus.Since"/> and the log. <see cref="Runs"/> tells whether a subscription runs here now: the
/// in-process host agents act only where their subscription runs.
/// </summary>
/// <remarks>It takes the store from <paramref name="services"/> when first asked, not in its constructor: the in-process agents
/// depend on it and are themselves commit observers of the store, so a constructor dependency would be a cycle.</remarks>
public sealed class DaemonNode(IServiceProvider services, NodeIdentity node, TimeProvider time, ILogger<DaemonNode> log) : BackgroundService
{
    public static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(250);

    private readonly Lock gate = new();
    private readonly DateTimeOffset started = time.GetUtcNow();
    private bool leader;
    private DateTimeOffset since = time.GetUtcNow();

    public NodeIdentity Node => node;

    private DocumentStore Store => (DocumentStore)services.GetRequiredService<IDocumentStore>();

    /// <summary>The shard identities of the store's daemon (async projections and subscriptions).</summary>
    public IReadOnlyList<string> AllShards() => [.. Store.Options.Projections.AllShards().Select(s => s.Name.Identity).Order(StringComparer.Ordinal)];

    /// <summary>Whether the subscription (or projection) named <paramref name="name"/> has a running agent in this process.</summary>
    public bool Runs(string name) => Agents().Any(a => a.Name.Name == name && a.Status == AgentStatus.Running);

    public DaemonStatus Status()
    {
        var (isLeader, shards) = Observe();
        lock (gate)
        {
            Note(isLeader, shards);
            return new DaemonStatus(node.Name, Store.Options.Projections.AsyncMode.ToString(), isLeader, since, shards);
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Periodic.RunAsync(Poll, time, _ =>
        {
            var (isLeader, shards) = Observe();
            lock (gate)
            {
                Note(isLeader, shards);
            }

            return Task.CompletedTask;
        }, e => log.LogWarning(e, "the daemon's state could not be read"), stoppingToken);

    private void Note(bool isLeader, IReadOnlyList<DaemonShard> shards)
    {
        if (isLeader == leader)
        {
            return;
        }

        leader = isLeader;
        since = time.GetUtcNow();
        if (isLeader)
        {
            log.LogInformation("node {Node} now runs the projection daemon ({Shards}), {Elapsed:0.0} s after it started", node.Name,
                string.Join(", ", shards.Select(s => s.Name)), (since - started).TotalSeconds);
        }
        else
        {
            log.LogWarning("node {Node} no longer runs the whole projection daemon ({Shards})", node.Name,
                string.Join(", ", shards.Select(s => $"{s.Name} {s.Status}")));
        }
    }

    private (bool Leader, IReadOnlyList<DaemonShard> Shards) Observe()
    {
        var agents = Agents().ToDictionary(a => a.Name.Identity, a => a.Status);
        var shards = AllShards().Select(name => new DaemonShard(name, agents.TryGetValue(name, out var status) ? status.ToString().ToLowerInvariant() : "cold")).ToList();
        return (shards.Count > 0 && shards.All(s => s.Status == "running"), shards);
    }

    private IEnumerable<ISubscriptionAgent> Agents()
    {
        var coordinator = services.GetService<IProjectionCoordinator>();
        if (coordinator is null)
        {
            return [];
        }

        try
        {
            return coordinator.DaemonForMainDatabase().CurrentAgents();
        }
        catch (ObjectDisposedException)
        {
            return []; // stopping
        }
    }
}
