using Marten;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xapi.Cqrs.Application.Hosts;
using Xapi.Cqrs.Application.Pipeline;

namespace Xapi.Cqrs.HostAgent.Agents;

/// <summary>
/// An agent process's heartbeat: every <see cref="LivenessSettings.Heartbeat"/> one document upsert (its
/// <see cref="HostHeartbeat"/>), no event. The service's <see cref="HostLiveness"/> turns its absence into live: false.
/// </summary>
public sealed class Heartbeat(IDocumentStore store, AgentSettings agent, LivenessSettings settings, TimeProvider time, ILogger<Heartbeat> log) : BackgroundService
{
    private readonly DateTimeOffset startedAt = time.GetUtcNow();

    public async Task BeatAsync(CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        session.Store(new HostHeartbeat
        {
            Id = agent.OnlyHost!.Value,
            At = time.GetUtcNow(),
            Pid = Environment.ProcessId,
            Machine = Environment.MachineName,
            StartedAt = startedAt,
        });
        await session.SaveChangesAsync(ct);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Periodic.RunAsync(settings.Heartbeat, time, BeatAsync, e => log.LogWarning(e, "the heartbeat could not be written"), stoppingToken);
}
