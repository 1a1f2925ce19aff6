using System.Text.Json;
using JasperFx.Events;
using Marten;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Application.Vms;

namespace Xapi.Cqrs.Application.Events;

/// <summary>
/// The whole event log read in commit order, for <c>GET /api/events/stream</c>: pages of the events after a sequence
/// number, in the same entry shape as a VM's history. A page never passes a gap that may still fill: sequence numbers
/// are drawn before commit, so a later number can commit first. Events up to the daemon's high-water mark are final
/// (a gap below it is a number no commit will ever use); above it a page stops at the first gap, and the caller skips
/// that gap once it has stood for <see cref="StaleGap"/> (Marten's daemon waits the same way).
/// </summary>
public static class EventLog
{
    public const int PageSize = 500;

    /// <summary>How long a gap above the high-water mark is waited for before it is skipped.</summary>
    public static readonly TimeSpan StaleGap = TimeSpan.FromSeconds(3);

    /// <summary>A page: the contiguous events read, and whether a gap stopped it (the sequence number after the last entry was missing).</summary>
    public sealed record Page(IReadOnlyList<History.Entry> Entries, bool StoppedAtGap, long FirstAfterGap);

    /// <summary>The highest sequence number in the log now (0 when empty): where a live-only stream begins.</summary>
    public static async Task<long> HeadAsync(IQuerySession session, CancellationToken ct)
    {
        var schema = session.DocumentStore.Options.Events.DatabaseSchemaName;
        return (await session.QueryAsync<long>($"select coalesce(max(seq_id), 0) from {schema}.mt_events", ct)).FirstOrDefault();
    }

    /// <summary>
    /// The events after <paramref name="after"/>, at most <see cref="PageSize"/>, stopping before a gap above the
    /// high-water mark unless <paramref name="skipGapsUpTo"/> covers it.
    /// </summary>
    public static async Task<Page> ReadAsync(IQuerySession session, long after, long skipGapsUpTo, CancellationToken ct)
    {
        var schema = session.DocumentStore.Options.Events.DatabaseSchemaName;
        var found = await session.Events.QueryAllRawEvents().Where(e => e.Sequence > after).OrderBy(e => e.Sequence).Take(PageSize).ToListAsync(ct);
        if (found.Count == 0)
        {
            return new Page([], false, 0);
        }

        var highWaterMark = (await session.QueryAsync<long>(
            $"select coalesce(max(last_seq_id), 0) from {schema}.mt_event_progression where name like 'HighWaterMark%'", ct)).FirstOrDefault();
        var entries = new List<History.Entry>(found.Count);
        var expected = after + 1;
        foreach (var e in found)
        {
            if (e.Sequence != expected && e.Sequence > highWaterMark + 1 && expected > skipGapsUpTo)
            {
                return new Page(entries, true, e.Sequence);
            }

            entries.Add(ToEntry(e));
            expected = e.Sequence + 1;
        }

        return new Page(entries, false, 0);
    }

    public static History.Entry ToEntry(IEvent e) => new(
        e.Sequence,
        e.StreamId,
        e.Version,
        e.EventTypeName,
        e.Timestamp,
        e.Headers?.TryGetValue(ActorSessionFactory.ActorHeader, out var actor) == true ? actor?.ToString() : null,
        e.CorrelationId,
        JsonSerializer.SerializeToElement(e.Data, e.Data.GetType(), JsonSerializerOptions.Web));
}

/// <summary>
/// A pulse on every commit of this process, and on every commit another process tells of (<see cref="Store.CommitNotifications"/>):
/// event-stream readers wait on it instead of polling; their look every few seconds is only the fallback.
/// </summary>
public sealed class CommitSignal : ICommitObserver
{
    private TaskCompletionSource next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes at the next commit after this call.</summary>
    public Task Next => Volatile.Read(ref next).Task;

    public void OnCommitted(IReadOnlyList<IEvent> events) =>
        Interlocked.Exchange(ref next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}
