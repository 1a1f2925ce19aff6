using Marten;
using Microsoft.Extensions.Configuration;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Host = Xapi.Cqrs.Domain.Hosts.Host;

namespace Xapi.Cqrs.Application.Hosts;

/// <summary>Xapi:Agent:Heartbeat and Xapi:Agent:LiveTimeout.</summary>
/// <param name="Heartbeat">How often an external agent writes its <see cref="HostHeartbeat"/>; also how often the service checks them.</param>
/// <param name="LiveTimeout">
/// How long an external host stays live without a new heartbeat. 30 s by default: quick to notice in a lab. xapi's own
/// (host heartbeats to the master, xapi_globs host_heartbeat_interval and the master's timeout) is much longer, minutes
/// by default, because a host wrongly declared dead has its VMs reset elsewhere; here not live only refuses new starts.
/// </param>
public sealed record LivenessSettings(TimeSpan Heartbeat, TimeSpan LiveTimeout)
{
    public static readonly TimeSpan DefaultHeartbeat = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan DefaultLiveTimeout = TimeSpan.FromSeconds(30);

    public LivenessSettings()
        : this(DefaultHeartbeat, DefaultLiveTimeout)
    {
    }

    /// <summary>From Xapi:Agent:Heartbeat and Xapi:Agent:LiveTimeout, the defaults where unset.</summary>
    public static LivenessSettings From(IConfiguration config) => new(
        config.GetValue<TimeSpan?>("Xapi:Agent:Heartbeat") ?? DefaultHeartbeat,
        config.GetValue<TimeSpan?>("Xapi:Agent:LiveTimeout") ?? DefaultLiveTimeout);
}

/// <summary>
/// The service's view of its external hosts, as xapi's master has it: only what their agents report. Every
/// <see cref="LivenessSettings.Heartbeat"/> the heartbeats are read; a host whose heartbeat has not changed for
/// <see cref="LivenessSettings.LiveTimeout"/> (by this process's clock, so the agents' clocks need not agree with it)
/// becomes live: false, and live again when its heartbeats resume. A change is appended only when the host's record
/// differs (<see cref="ChangeHost.SetLive"/>, on the host stream's expected version, retried on conflict), so several
/// service nodes running this agree without coordinating. In-process hosts are left alone.
/// </summary>
public sealed class HostLiveness(IServiceScopeFactory scopes, LivenessSettings settings, TimeProvider time, ILogger<HostLiveness> log) : BackgroundService
{
    private readonly Dictionary<Guid, (DateTimeOffset At, DateTimeOffset SeenAt)> seen = [];

    /// <summary>
    /// Whether a host is live now: its heartbeat changed within the timeout, by this process's clock. A heartbeat seen for
    /// the first time (this process just started) counts from its own time.
    /// </summary>
    public bool Observe(Guid hostId, HostHeartbeat? heartbeat, DateTimeOffset now)
    {
        if (heartbeat is null)
        {
            seen.Remove(hostId);
            return false;
        }

        if (!seen.TryGetValue(hostId, out var last))
        {
            last = (heartbeat.At, heartbeat.At < now ? heartbeat.At : now);
        }
        else if (heartbeat.At != last.At)
        {
            last = (heartbeat.At, now);
        }

        seen[hostId] = last;
        return now - last.SeenAt <= settings.LiveTimeout;
    }

    /// <summary>One round: every external host's liveness set from its heartbeat.</summary>
    public async Task CheckAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var session = scope.ServiceProvider.GetRequiredService<IQuerySession>();
        var hosts = await session.Query<Host>().Where(h => h.Agent == Domain.Hosts.HostAgents.External).ToListAsync(ct);
        if (hosts.Count == 0)
        {
            return;
        }

        var beats = (await session.LoadManyAsync<HostHeartbeat>(ct, hosts.Select(h => h.Id))).ToDictionary(b => b.Id);
        var now = time.GetUtcNow();
        foreach (var host in hosts)
        {
            var live = Observe(host.Id, beats.GetValueOrDefault(host.Id), now);
            if (live != host.Live)
            {
                log.LogWarning("host {Host} ({Name}) is now {State}: its agent's last heartbeat was {At}", host.Id, host.NameLabel,
                    live ? "live" : "not live", beats.GetValueOrDefault(host.Id)?.At);
                await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new ChangeHost.SetLive(host.Id, live), ct);
            }
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Periodic.RunAsync(settings.Heartbeat, time, CheckAsync, e => log.LogError(e, "the host liveness check failed"), stoppingToken);
}
