using Marten;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Tasks;

namespace Xapi.Cqrs.Application.Store;

/// <summary>Who asked for a decision, stamped on its events when one commit carries the decisions of several callers.</summary>
/// <summary>Who caused an event and why; <paramref name="TraceParent"/> is the W3C trace context of the command (header "traceparent"), so the work the event asks for joins its trace.</summary>
public sealed record EventMetadata(string Subject, string CorrelationId, string? CausationId, string? TraceParent = null);

/// <summary>Appends what decisions returned: each stream once per commit, existing ones at the version they were read at.</summary>
public static class ChangesWriter
{
    /// <summary>Queues every stream of <paramref name="changes"/>; <paramref name="versionOf"/> gives each locked stream's version.</summary>
    public static Task AppendAsync(this IDocumentSession session, Changes changes, Func<Guid, long?> versionOf, CancellationToken ct) =>
        session.AppendAsync([(changes, null)], versionOf, ct);

    /// <summary>
    /// Queues the changes of several decisions, in order, as one append per stream, each at the version it
    /// extends. <paramref name="versionOf"/> gives the versions of the streams the caller locked; host and task
    /// streams (last in the lock order) not locked yet are locked here. Events of a decision with <see cref="EventMetadata"/> carry its
    /// caller and correlation id instead of the session's.
    /// </summary>
    public static async Task AppendAsync(this IDocumentSession session, IReadOnlyList<(Changes Changes, EventMetadata? Metadata)> decisions, Func<Guid, long?> versionOf, CancellationToken ct)
    {
        var order = new List<Guid>();
        var streams = new Dictionary<Guid, (StreamKind Kind, bool IsNew, List<(object Event, EventMetadata? Metadata)> Events)>();
        foreach (var (changes, metadata) in decisions)
        {
            foreach (var change in changes.Streams)
            {
                if (!streams.TryGetValue(change.Id, out var stream))
                {
                    stream = (change.Kind, change.IsNew, []);
                    streams[change.Id] = stream;
                    order.Add(change.Id);
                }

                stream.Events.AddRange(change.Events.Select(e => (e, metadata)));
            }
        }

        // Hosts and tasks, last in the lock order, may be locked now, just before the commit.
        var unlocked = order.Where(id => !streams[id].IsNew && versionOf(id) is null).ToList();
        if (unlocked.FirstOrDefault(id => streams[id].Kind is not (StreamKind.Host or StreamKind.Task)) is var stray && stray != Guid.Empty)
        {
            throw new InvalidOperationException($"{streams[stray].Kind} stream {stray} is written without having been locked");
        }

        var late = unlocked.Count == 0 ? [] : await session.LockAsync(ct, unlocked.Select(id => (streams[id].Kind, (IEnumerable<Guid>)[id])));
        if (unlocked.Any(id => streams[id].Kind == StreamKind.Host))
        {
            // A host read before its lock may have changed since: its read model is projected from the state as
            // locked, not from the copy the session read.
            session.EjectAllOfType(typeof(Domain.Hosts.Host));
        }

        foreach (var id in order)
        {
            var (kind, isNew, events) = streams[id];
            var data = events.Select(e => e.Event).ToArray();
            var action = (isNew, kind) switch
            {
                (true, StreamKind.Task) => session.Events.StartStream<XapiTask>(id, data),
                (true, _) => session.Events.StartStream(id, data),
                _ => session.Events.Append(id, data),
            };
            if (!isNew)
            {
                action.ExpectedVersionOnServer = versionOf(id) ?? late[id];
            }

            for (var i = 0; i < events.Count; i++)
            {
                if (events[i].Metadata is { } m)
                {
                    var e = action.Events[i];
                    e.CorrelationId = m.CorrelationId;
                    e.CausationId = m.CausationId;
                    e.SetHeader(ActorSessionFactory.ActorHeader, m.Subject);
                    if (m.TraceParent is { } trace)
                    {
                        e.SetHeader(ActorSessionFactory.TraceHeader, trace);
                    }
                }
            }
        }
    }
}
