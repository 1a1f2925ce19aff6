using Marten;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Tasks;

namespace Xapi.Cqrs.Application.Store;

/// <summary>Who asked for a decision, stamped on its events when one commit carries the decisions of several callers.</summary>
public sealed record EventMetadata(string Subject, string CorrelationId, string? CausationId);

/// <summary>Appends what decisions returned: each stream once per commit, existing ones at the version they were read at.</summary>
public static class ChangesWriter
{
    /// <summary>Queues every stream of <paramref name="changes"/>; <paramref name="versionOf"/> gives each existing stream's expected version (null: none).</summary>
    public static void Append(this IDocumentSession session, Changes changes, Func<Guid, long?> versionOf) =>
        session.Append([(changes, null)], versionOf);

    /// <summary>
    /// Queues the changes of several decisions, in order, as one append per stream. Events of a decision with
    /// <see cref="EventMetadata"/> carry its caller and correlation id instead of the session's.
    /// </summary>
    public static void Append(this IDocumentSession session, IReadOnlyList<(Changes Changes, EventMetadata? Metadata)> decisions, Func<Guid, long?> versionOf)
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
            if (!isNew && versionOf(id) is { } version)
            {
                action.ExpectedVersionOnServer = version;
            }

            for (var i = 0; i < events.Count; i++)
            {
                if (events[i].Metadata is { } m)
                {
                    var e = action.Events[i];
                    e.CorrelationId = m.CorrelationId;
                    e.CausationId = m.CausationId;
                    e.SetHeader(ActorSessionFactory.ActorHeader, m.Subject);
                }
            }
        }
    }
}
