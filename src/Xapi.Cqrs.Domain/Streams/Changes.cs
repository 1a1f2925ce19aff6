using System.Collections.Immutable;

namespace Xapi.Cqrs.Domain.Streams;

/// <summary>
/// The kinds of stream a decision writes to. The order of the first five is the order in which a writer
/// locks streams (VM, VBDs, VIFs, VDIs, host last), so two transactions never wait on each other in a cycle.
/// </summary>
public enum StreamKind
{
    Vm,
    Vbd,
    Vif,
    Vdi,
    Host,
    Task,
    Message,
}

/// <summary>The events a decision appends to one stream; <see cref="IsNew"/> when the decision creates the stream.</summary>
public sealed record StreamChange(StreamKind Kind, Guid Id, bool IsNew, ImmutableArray<object> Events);

/// <summary>
/// What a decision writes: events per stream, in the order the decision produced them. Built up by the
/// decision (a local builder, never shared) and read by the handler that appends it. Several decisions
/// of one batch merge into one <see cref="Changes"/>, so each stream is appended to once per commit.
/// </summary>
public sealed class Changes
{
    private readonly List<Guid> order = [];
    private readonly Dictionary<Guid, (StreamKind Kind, bool IsNew, List<object> Events)> streams = [];

    public static Changes None => new();

    public bool IsEmpty => streams.Count == 0;

    /// <summary>Every stream written, in first-touched order.</summary>
    public IReadOnlyList<StreamChange> Streams =>
        [.. order.Select(id => streams[id]).Zip(order, (s, id) => new StreamChange(s.Kind, id, s.IsNew, [.. s.Events]))];

    /// <summary>Appends to an existing stream (nothing is recorded for an empty list).</summary>
    public Changes Append(StreamKind kind, Guid id, params IEnumerable<object> events) => Add(kind, id, isNew: false, events);

    /// <summary>Creates a stream with its first events.</summary>
    public Changes Start(StreamKind kind, Guid id, params IEnumerable<object> events) => Add(kind, id, isNew: true, events);

    /// <summary>The events this decision appends to <paramref name="id"/> (empty if none).</summary>
    public IReadOnlyList<object> For(Guid id) => streams.TryGetValue(id, out var s) ? s.Events : [];

    /// <summary><paramref name="state"/> after this decision's events on its stream (<paramref name="id"/>).</summary>
    public T Fold<T>(Guid id, T state, Func<T, object, T> evolve) => For(id).Aggregate(state, evolve);

    /// <summary>Adds another decision's changes after this one's.</summary>
    public Changes Merge(Changes other)
    {
        foreach (var id in other.order)
        {
            var (kind, isNew, events) = other.streams[id];
            Add(kind, id, isNew, events);
        }

        return this;
    }

    private Changes Add(StreamKind kind, Guid id, bool isNew, IEnumerable<object> events)
    {
        var list = events as IReadOnlyCollection<object> ?? [.. events];
        if (list.Count == 0)
        {
            return this;
        }

        if (!streams.TryGetValue(id, out var s))
        {
            s = (kind, isNew, []);
            streams[id] = s;
            order.Add(id);
        }

        s.Events.AddRange(list);
        return this;
    }
}
