using System.Diagnostics;
using JasperFx;
using JasperFx.Events;
using Marten;
using Npgsql;
using Weasel.Core;

namespace Xapi.Cqrs.Bench;

/// <summary>What bare Marten did: commits and events per second, and one commit's latency under the same load.</summary>
internal sealed record MartenLimit(double CommitsPerSecond, double EventsPerSecond, Percentiles Latency, long Commits, TimeSpan Elapsed);

/// <summary>What PostgreSQL alone did: single-row autocommit inserts per second.</summary>
internal sealed record PostgresLimit(double CommitsPerSecond, long Commits, TimeSpan Elapsed);

/// <summary>The limits every storm figure is compared with, measured on the same database in schemas of their own.</summary>
internal static class Baselines
{
    public const int Tasks = 32;
    private const int EventsPerCommit = 10;
    private const string MartenSchema = "bench_marten";
    private const string PostgresSchema = "bench_pg";

    /// <summary>A small event of the benchmark's own.</summary>
    private sealed record Tick(int Index, string Note);

    /// <summary>
    /// 32 tasks, each in a loop: a LightweightSession, StartStream of a new stream with 10 small events,
    /// SaveChangesAsync. Store options as the service's (StoreSetup.Options): System.Text.Json camelCase with
    /// enums as strings, Guid streams, the service's append mode (QuickWithServerTimestamps), correlation/causation/headers metadata on.
    /// </summary>
    public static async Task<MartenLimit> MartenAsync(string connectionString, TimeSpan duration, CancellationToken ct)
    {
        await using var store = DocumentStore.For(opts =>
        {
            opts.Connection(connectionString);
            opts.DatabaseSchemaName = MartenSchema;
            opts.Events.DatabaseSchemaName = MartenSchema;
            opts.AutoCreateSchemaObjects = AutoCreate.CreateOrUpdate;
            opts.UseSystemTextJsonForSerialization(EnumStorage.AsString, Casing.CamelCase);
            opts.Events.StreamIdentity = StreamIdentity.AsGuid;
            opts.Events.AppendMode = EventAppendMode.QuickWithServerTimestamps;
            opts.Events.MetadataConfig.CorrelationIdEnabled = true;
            opts.Events.MetadataConfig.CausationIdEnabled = true;
            opts.Events.MetadataConfig.HeadersEnabled = true;
        });
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();

        async Task CommitAsync(int _, CancellationToken token)
        {
            await using var session = store.LightweightSession();
            session.Events.StartStream(Guid.NewGuid(), Enumerable.Range(0, EventsPerCommit).Select(i => (object)new Tick(i, "bench")).ToArray());
            await session.SaveChangesAsync(token);
        }

        for (var i = 0; i < Tasks; i++)
        {
            await CommitAsync(i, ct); // warm-up: JIT, the connection pool, the first inserts
        }

        var (latencies, elapsed) = await LoopAsync(duration, CommitAsync, ct);
        var commits = latencies.Count;
        return new MartenLimit(commits / elapsed.TotalSeconds, commits * EventsPerCommit / elapsed.TotalSeconds,
            Percentiles.Of(latencies), commits, elapsed);
    }

    /// <summary>32 connections, each committing single-row INSERTs (autocommit) into a table of the benchmark's own.</summary>
    public static async Task<PostgresLimit> PostgresAsync(NpgsqlDataSource db, TimeSpan duration, CancellationToken ct)
    {
        await using (var create = db.CreateCommand(
                         $"create schema if not exists {PostgresSchema}; " +
                         $"create table if not exists {PostgresSchema}.commits (id bigserial primary key, at timestamptz not null default now(), note text not null)"))
        {
            await create.ExecuteNonQueryAsync(ct);
        }

        var connections = new NpgsqlConnection[Tasks];
        var commands = new NpgsqlCommand[Tasks];
        try
        {
            for (var i = 0; i < Tasks; i++)
            {
                connections[i] = await db.OpenConnectionAsync(ct);
                commands[i] = new NpgsqlCommand($"insert into {PostgresSchema}.commits (note) values ($1)", connections[i]);
                commands[i].Parameters.Add(new NpgsqlParameter { Value = "bench" });
                await commands[i].PrepareAsync(ct);
            }

            var (latencies, elapsed) = await LoopAsync(duration, (loop, token) => commands[loop].ExecuteNonQueryAsync(token), ct);
            return new PostgresLimit(latencies.Count / elapsed.TotalSeconds, latencies.Count, elapsed);
        }
        finally
        {
            foreach (var command in commands.Where(c => c is not null))
            {
                await command.DisposeAsync();
            }

            foreach (var connection in connections.Where(c => c is not null))
            {
                await connection.DisposeAsync();
            }
        }
    }

    public static Section Section(MartenLimit marten, PostgresLimit postgres)
    {
        var section = new Section($"Limits: bare Marten and PostgreSQL alone on the same database, {Tasks} concurrent tasks");
        var perCommit = $"new stream of {EventsPerCommit} events per commit, Quick append mode; {marten.Commits:N0} commits in {marten.Elapsed.TotalSeconds:0.0} s";
        section.Figures.Add(new Figure("bare Marten commits/s", marten.CommitsPerSecond, "/s")
        {
            Baseline = postgres.CommitsPerSecond,
            BaselineName = "PostgreSQL alone",
            Detail = perCommit,
        });
        section.Figures.Add(new Figure("bare Marten events/s", marten.EventsPerSecond, "/s") { Detail = $"{EventsPerCommit} events per commit" });
        section.Figures.Add(new Figure("bare Marten commit p50", marten.Latency.P50, "ms"));
        section.Figures.Add(new Figure("bare Marten commit p95", marten.Latency.P95, "ms"));
        section.Figures.Add(new Figure("bare Marten commit p99", marten.Latency.P99, "ms"));
        section.Figures.Add(new Figure("PostgreSQL alone commits/s", postgres.CommitsPerSecond, "/s")
        {
            Detail = $"single-row autocommit INSERTs on {Tasks} connections; {postgres.Commits:N0} in {postgres.Elapsed.TotalSeconds:0.0} s",
        });
        section.Notes.Add("The storms' starts/s are compared with bare-Marten commits/s, their latencies with a bare-Marten commit's under the same concurrency.");
        return section;
    }

    /// <summary>
    /// Runs <paramref name="commit"/> (given its loop's index) in <see cref="Tasks"/> concurrent loops until <paramref name="duration"/> has
    /// passed; every commit that finishes counts, and the elapsed time runs until the last one has finished.
    /// </summary>
    private static async Task<(List<double> Latencies, TimeSpan Elapsed)> LoopAsync(TimeSpan duration, Func<int, CancellationToken, Task> commit, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var loops = Enumerable.Range(0, Tasks).Select(loop => Task.Run(async () =>
        {
            var latencies = new List<double>();
            while (Stopwatch.GetElapsedTime(started) < duration)
            {
                var begun = Stopwatch.GetTimestamp();
                await commit(loop, ct);
                latencies.Add(Report.MillisecondsSince(begun));
            }

            return latencies;
        }, ct)).ToArray();
        var all = await Task.WhenAll(loops);
        return ([.. all.SelectMany(l => l)], Stopwatch.GetElapsedTime(started));
    }
}
