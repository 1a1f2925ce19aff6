using Marten;
using Marten.Events.Archiving;
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
        return StateFold.Vm(from?.State, await EventsAsync(session, id, from?.Version ?? 0, version, at, ct));
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
        return StateFold.Host(from?.State, await EventsAsync(session, id, from?.Version ?? 0, version, at, ct));
    }

    /// <summary>The stream's events after <paramref name="after"/>, up to the version and moment asked, archived or not.</summary>
    private static async Task<IReadOnlyList<JasperFx.Events.IEvent>> EventsAsync(IQuerySession session, Guid id, long after, long? version, DateTimeOffset? at,
        CancellationToken ct)
    {
        var events = session.Events.QueryAllRawEvents().Where(e => e.StreamId == id && e.Version > after && e.MaybeArchived());
        if (version is { } v)
        {
            events = events.Where(e => e.Version <= v);
        }

        if (at is { } t)
        {
            events = events.Where(e => e.Timestamp <= t);
        }

        return await events.OrderBy(e => e.Version).ToListAsync(ct);
    }
}
