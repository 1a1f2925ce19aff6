using System.Text.Json;
using FluentValidation;
using JasperFx.Events;
using Marten;
using Marten.Events.Archiving;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// GET /api/vms/{id}/history: every event of the VM, of every VBD and VIF it ever had, of the tasks about them, and the
/// host-reservation events that concern it (scheduled, unscheduled, resident, left), in commit order, with who caused
/// it and under which correlation id — read straight from the log. Paged by sequence (<c>after</c>, <c>limit</c>),
/// filtered by event type and commit time; <see cref="Query.All"/> (ndjson export) takes every matching event at once.
/// </summary>
public static class History
{
    public const int DefaultLimit = 500;
    public const int MaxLimit = 10_000;

    /// <summary>The stored names of the host events about one VM's reservation and residency.</summary>
    private static readonly string[] HostEventsOfAVm = ["vm_scheduled_on_host", "vm_unscheduled_from_host", "vm_resident_on_host", "vm_left_host"];

    public sealed record Query(Guid VmId, long? After = null, int? Limit = null, string? Type = null, DateTimeOffset? From = null,
        DateTimeOffset? To = null, bool All = false) : IRequest<Page>;

    public sealed record Entry(long Seq, Guid Stream, long Version, string Type, DateTimeOffset At, string? Actor, string? CorrelationId, JsonElement Data);

    /// <summary>One page; <see cref="Next"/> is the <c>after</c> of the next page, null on the last.</summary>
    public sealed record Page(IReadOnlyList<Entry> Entries, long? Next);

    public sealed class Validator : XapiValidator<Query>
    {
        public Validator()
        {
            RuleFor(q => q.Limit).InclusiveBetween(1, MaxLimit).InvalidValue("limit");
            RuleFor(q => q.After).GreaterThanOrEqualTo(0).InvalidValue("after");
            RuleFor(q => q.To).Must((q, to) => q.From is null || to is null || q.From <= to).InvalidValue("to");
        }
    }

    /// <summary>One stored event as the history shows it: with who caused it (the actor header) and its correlation id.</summary>
    public static Entry EntryOf(IEvent e) => new(
        e.Sequence,
        e.StreamId,
        e.Version,
        e.EventTypeName,
        e.Timestamp,
        ActorOf(e),
        e.CorrelationId,
        JsonSerializer.SerializeToElement(e.Data, e.Data.GetType(), JsonSerializerOptions.Web));

    public sealed class Handler(IQuerySession session) : IRequestHandler<Query, Page>
    {
        public async Task<Page> Handle(Query q, CancellationToken ct)
        {
            // The matching sequence numbers first, through the stream index (the cost follows this VM's history, never the
            // log's size), then the page's events by sequence number.
            var (streams, hostSeqs) = await SourcesAsync(session, q.VmId, q.After ?? 0, ct);
            var schema = session.DocumentStore.Options.Events.DatabaseSchemaName;
            var filters = "";
            var parameters = new List<object>();
            if (q.Type is { Length: > 0 } type)
            {
                filters += " and type = ?";
                parameters.Add(type);
            }

            if (q.From is { } from)
            {
                filters += " and timestamp >= ?";
                parameters.Add(from.ToUniversalTime());
            }

            if (q.To is { } to)
            {
                filters += " and timestamp <= ?";
                parameters.Add(to.ToUniversalTime());
            }

            var seqs = await session.QueryAsync<long>(
                $"select seq_id from {schema}.mt_events where stream_id = any(?) and seq_id > ?{filters} " +
                $"union select seq_id from {schema}.mt_events where seq_id = any(?){filters}",
                ct, [streams, q.After ?? 0, .. parameters, hostSeqs, .. parameters]);
            var limit = q.All ? int.MaxValue : q.Limit ?? DefaultLimit;
            var wanted = seqs.Order().Take(q.All ? int.MaxValue : limit + 1).ToArray();
            var found = wanted.Length == 0 ? [] : await session.Events.QueryAllRawEvents()
                .Where(e => e.Sequence.IsOneOf(wanted) && e.MaybeArchived()).OrderBy(e => e.Sequence).ToListAsync(ct);
            var page = found.Take(limit).Select(EntryOf).ToList();
            return new Page(page, found.Count > limit ? page[^1].Seq : null);
        }
    }

    /// <summary>
    /// The events of <paramref name="vm"/>'s history after sequence <paramref name="after"/>, as a query the caller narrows,
    /// orders and pages: the VM's own stream, the streams of every VBD and VIF it ever had (a destroyed device has left the
    /// VM's state, not its history), of the tasks about them, and the reservation and residency events of the hosts it
    /// was placed on that are about it. Shared by the history listing and explain.
    /// </summary>
    public static async Task<IQueryable<IEvent>> EventsOfAsync(IQuerySession session, Guid vmId, long after, CancellationToken ct)
    {
        var (streams, hostSeqs) = await SourcesAsync(session, vmId, after, ct);
        return session.Events.QueryAllRawEvents()
            .Where(e => (e.StreamId.IsOneOf(streams) || e.Sequence.IsOneOf(hostSeqs)) && e.Sequence > after && e.MaybeArchived());
    }

    /// <summary>The streams whose every event is in the VM's history, and the sequence numbers of the host events about it after <paramref name="after"/>.</summary>
    private static async Task<(Guid[] Streams, long[] HostSeqs)> SourcesAsync(IQuerySession session, Guid vmId, long after, CancellationToken ct)
    {
        // Every device the VM ever had, their tasks, and every host it was ever placed on, from its own stream (live or archived).
        var vm = await VmStreams.OfAsync(session, vmId, ct);
        var hosts = vm.Hosts.ToArray();

        // The events of the hosts it was placed on that are about this VM, found by the VM id in their data. The stream
        // index narrows the search to those hosts' events; other hosts' history is never read.
        var schema = session.DocumentStore.Options.Events.DatabaseSchemaName;
        var hostSeqs = hosts.Length == 0 ? [] : (await session.QueryAsync<long>(
            $"select seq_id from {schema}.mt_events where stream_id = any(?) and type = any(?) and data ->> 'vmId' = ? and seq_id > ?",
            ct, hosts, HostEventsOfAVm, vmId.ToString(), after)).ToArray();
        return (vm.Own.ToArray(), hostSeqs);
    }

    /// <summary>Who caused the event: the token subject stamped in its "actor" header (null if none).</summary>
    public static string? ActorOf(IEvent e) =>
        e.Headers?.TryGetValue(ActorSessionFactory.ActorHeader, out var actor) == true ? actor?.ToString() : null;
}
