using JasperFx.Events;
using Marten;
using Marten.Events.Projections;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Projections.Snapshots;

/// <summary>A VM's state as it was just after the event at <see cref="Version"/> of its stream (committed at <see cref="At"/>).</summary>
public sealed record VmSnapshot
{
    public string Id { get; set; } = "";
    public Guid StreamId { get; init; }
    public long Version { get; init; }
    public DateTimeOffset At { get; init; }
    public Vm State { get; init; } = null!;
}

/// <summary>A host's state as it was just after the event at <see cref="Version"/> of its stream (committed at <see cref="At"/>).</summary>
public sealed record HostSnapshot
{
    public string Id { get; set; } = "";
    public Guid StreamId { get; init; }
    public long Version { get; init; }
    public DateTimeOffset At { get; init; }
    public Host State { get; init; } = null!;
}

/// <summary>
/// How a state is folded from its stream's events, outside Marten's aggregation: the same pure <c>Start</c> and
/// <c>Evolve</c> the inline projections use, with the stream version recorded as Marten records it.
/// </summary>
public static class StateFold
{
    /// <summary>Every <see cref="Interval"/>-th version of a VM or host stream has a snapshot, so an as-of read folds fewer events than that.</summary>
    public const long Interval = 64;

    public static Vm? Vm(Vm? from, IEnumerable<IEvent> events) => Fold(from, events, Domain.Vms.Vm.Start, (s, e) => s.Evolve(e), (s, v) => s.Version = v);

    public static Host? Host(Host? from, IEnumerable<IEvent> events) => Fold(from, events, Domain.Hosts.Host.Start, (s, e) => s.Evolve(e), (s, v) => s.Version = v);

    private static T? Fold<T>(T? state, IEnumerable<IEvent> events, Func<object, T?> start, Func<T, object, T> evolve, Action<T, long> setVersion)
        where T : class
    {
        foreach (var e in events)
        {
            state = state is null ? start(e.Data) : evolve(state, e.Data);
            if (state is not null)
            {
                setVersion(state, e.Version);
            }
        }

        return state;
    }
}

/// <summary>
/// The snapshots that keep as-of reads (<c>GET /api/vms/{id}/history?at=</c>, <c>/api/hosts/{id}/history?at=</c>) cheap
/// however long a stream grows: at every <see cref="StateFold.Interval"/>-th version of a VM or host stream, the state as it
/// was then, folded from the previous snapshot (or the stream's start) and the events since. An async projection: nothing on
/// the command path waits for it, and an as-of read whose snapshot is not there yet folds from an earlier one. Every snapshot
/// is a pure function of the log (keyed by stream and version), so applying an event twice, or rebuilding, changes nothing.
/// </summary>
public sealed class StateSnapshotProjection : IProjection
{
    public const string Name = "snapshots";

    public async Task ApplyAsync(IDocumentOperations operations, IReadOnlyList<IEvent> events, CancellationToken cancellation)
    {
        foreach (var e in events)
        {
            if (e.Version % StateFold.Interval == 0 && e.Version > 0)
            {
                await SnapshotAsync(operations, e, cancellation);
            }
        }
    }

    private static async Task SnapshotAsync(IDocumentOperations ops, IEvent at, CancellationToken ct)
    {
        var id = at.StreamId;
        var vmFrom = await ops.Query<VmSnapshot>().Where(s => s.StreamId == id && s.Version < at.Version)
            .OrderByDescending(s => s.Version).FirstOrDefaultAsync(ct);
        var hostFrom = vmFrom is null
            ? await ops.Query<HostSnapshot>().Where(s => s.StreamId == id && s.Version < at.Version).OrderByDescending(s => s.Version).FirstOrDefaultAsync(ct)
            : null;
        var fromVersion = vmFrom?.Version ?? hostFrom?.Version ?? 0;
        var events = await ops.Events.FetchStreamAsync(id, at.Version, fromVersion: fromVersion + 1, token: ct);
        if (vmFrom is not null || (hostFrom is null && fromVersion == 0 && StateFold.Vm(null, events.Take(1)) is not null))
        {
            if (StateFold.Vm(vmFrom?.State, events) is { } vm)
            {
                ops.Store(new VmSnapshot { Id = KeyOf(id, at.Version), StreamId = id, Version = at.Version, At = at.Timestamp, State = vm });
            }
        }
        else if (StateFold.Host(hostFrom?.State, events) is { } host)
        {
            ops.Store(new HostSnapshot { Id = KeyOf(id, at.Version), StreamId = id, Version = at.Version, At = at.Timestamp, State = host });
        }
    }

    public static string KeyOf(Guid streamId, long version) => $"{streamId:N}:{version}";
}
