using Marten;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Projections.Snapshots;

namespace Xapi.Cqrs.Application.Store;

/// <summary>
/// A state as it was at a version or a moment of its stream, rebuilt from events, never read from a stored copy of
/// the read model: the latest snapshot at or before that point (<see cref="StateSnapshotProjection"/>), then the stream's
/// events after it up to the point, folded by the same pure functions as the live projection. Two indexed reads whatever the
/// log's size, and fewer than <see cref="StateFold.Interval"/> events folded once the snapshot daemon has caught up.
/// </summary>
public static class AsOf
{
    /// <summary>The VM after its event <paramref name="version"/> (if given) and as committed by <paramref name="at"/> (if given); null when it did not exist yet.</summary>
    public static async Task<Vm?> VmAsync(IQuerySession session, Guid id, long? version, DateTimeOffset? at, CancellationToken ct)
    {
        IQueryable<VmSnapshot> snapshots = session.Query<VmSnapshot>().Where(s => s.StreamId == id);
        if (version is { } v)
        {
            snapshots = snapshots.Where(s => s.Version <= v);
        }

        if (at is { } t)
        {
            snapshots = snapshots.Where(s => s.At <= t);
        }

        var from = await snapshots.OrderByDescending(s => s.Version).FirstOrDefaultAsync(ct);
        var events = await session.Events.FetchStreamAsync(id, version ?? 0, at, (from?.Version ?? 0) + 1, ct);
        return StateFold.Vm(from?.State, events);
    }

    /// <summary>The host after its event <paramref name="version"/> (if given) and as committed by <paramref name="at"/> (if given); null when it did not exist yet.</summary>
    public static async Task<Host?> HostAsync(IQuerySession session, Guid id, long? version, DateTimeOffset? at, CancellationToken ct)
    {
        IQueryable<HostSnapshot> snapshots = session.Query<HostSnapshot>().Where(s => s.StreamId == id);
        if (version is { } v)
        {
            snapshots = snapshots.Where(s => s.Version <= v);
        }

        if (at is { } t)
        {
            snapshots = snapshots.Where(s => s.At <= t);
        }

        var from = await snapshots.OrderByDescending(s => s.Version).FirstOrDefaultAsync(ct);
        var events = await session.Events.FetchStreamAsync(id, version ?? 0, at, (from?.Version ?? 0) + 1, ct);
        return StateFold.Host(from?.State, events);
    }
}
