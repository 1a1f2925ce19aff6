using System.Diagnostics;
using JasperFx.Events;
using JasperFx.Events.Projections;
using Marten;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xapi.Cqrs.Projections;

namespace Xapi.Cqrs.Application.Store;

/// <summary>What a rebuild did: the events it read, the documents the projection holds now, and how long it took.</summary>
public sealed record RebuildResult(long Events, long Documents, double Seconds);

/// <summary>
/// Rebuilds a projection blue/green, with no downtime for reads:
/// <list type="number">
/// <item>the projection's own code, as registered, is run over the whole log into a shadow copy of its tables (schema
/// <c>&lt;schema&gt;_rebuild</c>), page after page, while the live tables keep answering and keep being written;</item>
/// <item>then, in one transaction holding the live tables in SHARE ROW EXCLUSIVE mode (reads go on; the writers of this
/// projection wait), the shadow catches up with what was committed meanwhile and its rows replace the live ones. Readers
/// see the old rows until the commit and the new ones after it, never a half-built table.</item>
/// </list>
/// Nothing is appended to the log and no subscription is replayed, so a rebuild never makes a host agent act again.
/// An event committed late (its sequence number drawn before one already read) is picked up by the catch-up: the gaps
/// seen while reading are read again under the lock.
/// </summary>
public sealed class ProjectionRebuilder(IDocumentStore store, StoreSettings settings, ILogger<ProjectionRebuilder> log) : IDisposable
{
    // One shadow store for every rebuild of this process: building a store (options, projections, storage checks) costs
    // most of a rebuild of a small log.
    private readonly Lazy<DocumentStore> shadowStore = new(() =>
    {
        var options = StoreSetup.Options(settings);
        options.DatabaseSchemaName = settings.Schema + "_rebuild";
        return new DocumentStore(options);
    });

    public const int PageSize = 5_000;

    /// <summary>At most this many gaps are remembered; a late commit is one in flight while its page was read, near the head.</summary>
    private const int MaxGaps = 10_000;

    /// <summary>
    /// Rebuilds <paramref name="info"/>; <paramref name="progress"/> is told the position reached and the highest sequence
    /// number at the start, after each page of the bulk pass (never while the live tables are held).
    /// </summary>
    public async Task<RebuildResult> RebuildAsync(ProjectionInfo info, Func<long, long, Task> progress, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var shadow = shadowStore.Value;
        var shadowSchema = shadow.Options.DatabaseSchemaName;
        var tables = info.Documents.Select(ProjectionInfo.TableOf).ToArray();
        foreach (var document in info.Documents)
        {
            await shadow.Storage.Database.EnsureStorageExistsAsync(document, ct);
        }

        await ExecuteAsync($"truncate {string.Join(", ", tables.Select(t => $"{shadowSchema}.{t}"))}", ct);

        var source = shadow.Options.Projections.All.Single(p => p.GetType() == info.Projection || (p is ProjectionBase b && b.Name == info.Name));
        var projection = new ShadowProjection(source.BuildForInline(), source as IStartedByEvent);
        var reader = new LogReader();
        var high = await HighestSequenceAsync(settings, ct);
        // Reading the next page overlaps applying this one (one reads the live log, the other writes the shadow tables).
        var next = reader.NextAsync(store, ct);
        while (await next is { Count: > 0 } page)
        {
            var position = reader.Position;
            next = reader.NextAsync(store, ct);
            try
            {
                await ApplyAsync(shadow, projection, page, ct);
            }
            catch
            {
                await Task.WhenAny(next); // never leave the read running behind a failure
                throw;
            }

            await progress(position, high);
        }

        log.LogInformation("Projection {Projection}: bulk pass read {Events} events up to {Position}; switching", info.Name, reader.Events, reader.Position);
        long documents = 0;
        await using (var connection = new NpgsqlConnection(settings.ConnectionString))
        {
            await connection.OpenAsync(ct);
            await using var tx = await connection.BeginTransactionAsync(ct);
            await ExecuteAsync(connection, "set local lock_timeout = '30s'", ct);
            await ExecuteAsync(connection, $"lock table {string.Join(", ", tables.Select(t => $"{settings.Schema}.{t}"))} in share row exclusive mode", ct);

            // Everything committed before the lock, including late commits into the gaps seen so far.
            while (await reader.NextAsync(store, ct) is { Count: > 0 } page)
            {
                await ApplyAsync(shadow, projection, page, ct);
            }

            foreach (var (document, table) in info.Documents.Zip(tables))
            {
                documents += await SwitchAsync(connection, document, table, shadowSchema, ct);
            }

            await tx.CommitAsync(ct);
        }

        await ExecuteAsync($"truncate {string.Join(", ", tables.Select(t => $"{shadowSchema}.{t}"))}", ct);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        log.LogInformation("Projection {Projection} rebuilt: {Events} events, {Documents} documents in {Seconds:F1} s", info.Name, reader.Events, documents, seconds);
        return new RebuildResult(reader.Events, documents, seconds);
    }

    /// <summary>The shadow rows replace the live ones, within the caller's transaction; answers how many rows the live table holds now.</summary>
    private async Task<long> SwitchAsync(NpgsqlConnection connection, Type document, string table, string shadowSchema, CancellationToken ct)
    {
        var live = $"{settings.Schema}.{table}";
        var next = $"{shadowSchema}.{table}";
        var columns = new List<string>();
        await using (var command = new NpgsqlCommand(
            """
            select column_name from information_schema.columns l
            where l.table_schema = @live and l.table_name = @table
              and exists (select 1 from information_schema.columns n where n.table_schema = @next and n.table_name = @table and n.column_name = l.column_name)
            order by ordinal_position
            """, connection))
        {
            command.Parameters.AddWithValue("live", settings.Schema);
            command.Parameters.AddWithValue("next", shadowSchema);
            command.Parameters.AddWithValue("table", table);
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                columns.Add(reader.GetString(0));
            }
        }

        var list = string.Join(", ", columns.Select(c => $"\"{c}\""));
        if (IsKeyedByStream(document))
        {
            // A stream's document was last modified when its stream was last appended to, not when it was rebuilt.
            await ExecuteAsync(connection, $"update {next} d set mt_last_modified = s.timestamp from {settings.Schema}.mt_streams s where s.id = d.id", ct);
        }

        await ExecuteAsync(connection, $"delete from {live}", ct);
        return await ExecuteAsync(connection, $"insert into {live} ({list}) select {list} from {next}", ct);
    }

    private static bool IsKeyedByStream(Type document) => document.GetProperty("Id")?.PropertyType == typeof(Guid);

    /// <summary>Runs the projection over one page of events, grouped by stream in their order, and commits its documents to the shadow tables.</summary>
    private static async Task ApplyAsync(DocumentStore shadow, ShadowProjection projection, IReadOnlyList<IEvent> page, CancellationToken ct)
    {
        var streams = projection.Relevant(page.GroupBy(e => e.StreamId)).Select(g => StreamAction.Append(g.Key, [.. g])).ToList();
        if (streams.Count == 0)
        {
            return;
        }

        await using var session = shadow.LightweightSession();
        await projection.Inline.ApplyAsync(session, streams, ct);
        await session.SaveChangesAsync(ct);
    }

    /// <summary>
    /// The projection run over the log. One whose documents only an event of its own starts (<see cref="IStartedByEvent"/>:
    /// the object states) is handed only the streams it holds a document for, or that such an event starts in this page;
    /// so the VM projection never loads a document for a task's or a host's stream. Pages are applied one at a time.
    /// </summary>
    private sealed class ShadowProjection(IInlineProjection<IDocumentOperations> inline, IStartedByEvent? starter)
    {
        private readonly HashSet<Guid> held = [];

        public IInlineProjection<IDocumentOperations> Inline => inline;

        public IEnumerable<IGrouping<Guid, IEvent>> Relevant(IEnumerable<IGrouping<Guid, IEvent>> streams) =>
            starter is null ? streams : streams.Where(s => held.Contains(s.Key) || (s.Any(e => starter.Starts(e.Data)) && held.Add(s.Key)));
    }

    public void Dispose()
    {
        if (shadowStore.IsValueCreated)
        {
            shadowStore.Value.Dispose();
        }
    }

    /// <summary>The highest sequence number in the log (0 when it is empty).</summary>
    public static async Task<long> HighestSequenceAsync(StoreSettings settings, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(settings.ConnectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand($"select coalesce(max(seq_id), 0) from {settings.Schema}.mt_events", connection);
        return (long)(await command.ExecuteScalarAsync(ct))!;
    }

    private async Task ExecuteAsync(string sql, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(settings.ConnectionString);
        await connection.OpenAsync(ct);
        await ExecuteAsync(connection, sql, ct);
    }

    private static async Task<int> ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Reads the log forward in pages of <see cref="PageSize"/>, remembering the gaps to read them again later.</summary>
    private sealed class LogReader
    {
        private readonly SortedSet<long> gaps = [];

        public long Position { get; private set; }

        public long Events { get; private set; }

        public async Task<IReadOnlyList<IEvent>> NextAsync(IDocumentStore store, CancellationToken ct)
        {
            await using var session = store.QuerySession();
            var position = Position;
            var late = gaps.ToArray();
            var page = await session.Events.QueryAllRawEvents()
                .Where(e => e.Sequence > position || e.Sequence.IsOneOf(late))
                .OrderBy(e => e.Sequence).Take(PageSize).ToListAsync(ct);
            var expected = Position + 1;
            foreach (var e in page)
            {
                if (!gaps.Remove(e.Sequence))
                {
                    for (var missing = expected; missing < e.Sequence && gaps.Count < MaxGaps; missing++)
                    {
                        gaps.Add(missing);
                    }

                    expected = e.Sequence + 1;
                    Position = e.Sequence;
                }
            }

            Events += page.Count;
            return page;
        }
    }
}
