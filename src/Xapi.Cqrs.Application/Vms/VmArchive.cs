using Marten;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Projections.Snapshots;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>Xapi:Retention:ArchiveDestroyed — archive a destroyed VM's streams (default true); Xapi:Retention:Sweep — how often missed ones are looked for.</summary>
public sealed record RetentionSettings(bool ArchiveDestroyed = true, TimeSpan? Sweep = null)
{
    public TimeSpan SweepEvery => Sweep ?? TimeSpan.FromMinutes(10);
}

/// <summary>
/// Retention: a destroyed VM's streams — the VM, its VBDs and VIFs, their tasks — are archived with Marten's stream
/// archiving, and their documents leave the live read models (and the as-of snapshots). Nothing is deleted from the log:
/// history, as-of and explain still read the archived events; the daemon, rebuilds and live queries no longer do.
/// Runs right after a destroy commits, and as a sweep (at start and every <see cref="RetentionSettings.SweepEvery"/>) for a
/// destroy whose archiving did not happen (the service stopped in between).
/// </summary>
public sealed class VmArchive(IDocumentStore store, RetentionSettings settings, ILogger<VmArchive> log) : BackgroundService
{
    /// <summary>Archives <paramref name="vmId"/> if it is destroyed and not archived yet; answers whether it did.</summary>
    public async Task<bool> ArchiveAsync(Guid vmId, CancellationToken ct)
    {
        if (!settings.ArchiveDestroyed)
        {
            return false;
        }

        await using var session = store.LightweightSession();
        await session.LockAsync(null, ct, (StreamKind.Vm, [vmId]));
        if (await session.LoadAsync<Vm>(vmId, ct) is not { Destroyed: true })
        {
            return false;
        }

        var streams = await VmStreams.OfAsync(session, vmId, ct);
        foreach (var id in streams.Own)
        {
            session.Events.ArchiveStream(id);
        }

        session.Delete<Vm>(vmId);
        foreach (var device in streams.Devices)
        {
            session.Delete<Vbd>(device);
            session.Delete<Vif>(device);
        }

        foreach (var task in streams.Tasks)
        {
            session.Delete<XapiTask>(task);
        }

        session.DeleteWhere<VmSnapshot>(s => s.StreamId == vmId);
        await session.SaveChangesAsync(ct);
        log.LogInformation("Archived destroyed VM {Vm}: {Streams} streams", vmId, streams.Own.Count());
        return true;
    }

    /// <summary>Archives every destroyed VM still in the live read model; answers how many.</summary>
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        if (!settings.ArchiveDestroyed)
        {
            return 0;
        }

        List<Guid> destroyed;
        await using (var session = store.QuerySession())
        {
            destroyed = [.. await session.Query<Vm>().Where(v => v.Destroyed).Select(v => v.Id).ToListAsync(ct)];
        }

        var archived = 0;
        foreach (var vm in destroyed)
        {
            archived += await ArchiveAsync(vm, ct) ? 1 : 0;
        }

        return archived;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(settings.SweepEvery);
        do
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogWarning(e, "Retention sweep failed; it runs again in {Every}", settings.SweepEvery);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
