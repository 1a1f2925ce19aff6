using Marten;
using Npgsql;
using Xapi.Cqrs.Domain.Streams;

namespace Xapi.Cqrs.Application.Store;

/// <summary>
/// Exclusive stream locks, taken before a writer reads the states it decides on, in one fixed order —
/// VMs, VBDs, VIFs, VDIs, hosts, each kind by id — so two writers never wait on each other in a cycle.
/// Once a writer holds its locks no other writer can append to those streams, so its expected versions
/// hold and its commit cannot fail on a race: no rolled-back append, no burnt sequence numbers (gaps).
/// The locks are row locks on the streams table, held until the session's transaction ends.
/// </summary>
public static class StreamLocks
{
    /// <summary>Locks the streams in the fixed order and returns the version of each (streams that do not exist are absent).</summary>
    public static Task<Dictionary<Guid, long>> LockAsync(this IDocumentSession session, CancellationToken ct, params IEnumerable<(StreamKind Kind, IEnumerable<Guid> Ids)> groups) =>
        session.LockAsync(lease: null, ct, groups);

    /// <summary>
    /// The same, first taking <paramref name="lease"/> when given: a lease held until the session's transaction
    /// ends (a PostgreSQL transaction-level advisory lock named after it and the schema), so that of all service
    /// nodes on the database one at a time holds it. All in one round trip.
    /// </summary>
    public static async Task<Dictionary<Guid, long>> LockAsync(this IDocumentSession session, string? lease, CancellationToken ct, params IEnumerable<(StreamKind Kind, IEnumerable<Guid> Ids)> groups)
    {
        var versions = new Dictionary<Guid, long>();
        var ordered = groups
            .GroupBy(g => g.Kind)
            .OrderBy(g => g.Key)
            .Select(g => g.SelectMany(x => x.Ids).Distinct().Order().ToArray())
            .Where(ids => ids.Length > 0)
            .ToList();
        if (ordered.Count == 0 && lease is null)
        {
            return versions;
        }

        await session.BeginTransactionAsync(ct);
        var schema = session.DocumentStore.Options.Events.DatabaseSchemaName;
        await using var batch = new NpgsqlBatch(session.Connection);
        if (lease is not null)
        {
            var command = new NpgsqlBatchCommand("select pg_advisory_xact_lock(hashtextextended($1, 0))");
            command.Parameters.Add(new NpgsqlParameter { Value = $"{schema}:{lease}" });
            batch.BatchCommands.Add(command);
        }

        foreach (var ids in ordered)
        {
            var command = new NpgsqlBatchCommand($"select id, version from {schema}.mt_streams where id = any($1) order by id for update");
            command.Parameters.Add(new NpgsqlParameter { Value = ids });
            batch.BatchCommands.Add(command);
        }

        await using var reader = await batch.ExecuteReaderAsync(ct);
        do
        {
            while (await reader.ReadAsync(ct))
            {
                if (reader.FieldCount == 2)
                {
                    versions[reader.GetGuid(0)] = reader.GetInt64(1);
                }
            }
        }
        while (await reader.NextResultAsync(ct));
        return versions;
    }
}
