using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Marten;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xapi.Cqrs.Projections.Operations;

namespace Xapi.Cqrs.Application.Telemetry;

/// <summary>
/// Gauges that need the database: open operations by class and age, and each projection's lag behind the log. They
/// are read every <see cref="Every"/> by this background loop, not at scrape time, so a scrape never waits on (or
/// loads) PostgreSQL and its cost does not grow with the number of scrapers: two small queries per period.
/// </summary>
public sealed class StoreGauges : BackgroundService
{
    /// <summary>Age buckets of open operations (upper bounds, seconds): an operation's age is the first bucket it fits.</summary>
    private static readonly (double Upper, string Label)[] AgeBuckets = [(10, "lt10s"), (60, "lt1m"), (600, "lt10m"), (double.PositiveInfinity, "ge10m")];

    private readonly IDocumentStore store;
    private readonly TimeProvider time;
    private readonly ILogger<StoreGauges> log;

    /// <summary>The latest reading of every running instance (one per service; several only in tests), read by the instruments.</summary>
    private static readonly ConcurrentDictionary<StoreGauges, Snapshot> Readings = new();

    static StoreGauges()
    {
        XapiTelemetry.Meter.CreateObservableGauge("xapi.operations.open", () => Readings.Values.SelectMany(r => r.Open), "{operation}",
            "Open operations (current_operations entries) by object class, operation and age bucket (lt10s, lt1m, lt10m, ge10m)");
        XapiTelemetry.Meter.CreateObservableGauge("xapi.operations.oldest.age", () => Readings.Values.SelectMany(r => r.Oldest), "s",
            "Age of the oldest open operation, by object class");
        XapiTelemetry.Meter.CreateObservableGauge("xapi.projection.lag", () => Readings.Values.SelectMany(r => r.Lag), "{event}",
            "Events a projection (async shard) is behind the log's high-water mark");
    }

    public StoreGauges(IDocumentStore store, TimeProvider time, ILogger<StoreGauges> log, TimeSpan every)
    {
        this.store = store;
        this.time = time;
        this.log = log;
        Every = every;
    }

    public TimeSpan Every { get; }

    private sealed record Snapshot(Measurement<long>[] Open, Measurement<double>[] Oldest, Measurement<long>[] Lag);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Every, time);
        do
        {
            try
            {
                Readings[this] = await ReadAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogDebug(e, "metrics: could not read open operations and projection progress");
            }
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    private async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken ct)
    {
        try
        {
            return await timer.WaitForNextTickAsync(ct);
        }
        catch (OperationCanceledException)
        {
            Readings.TryRemove(this, out _);
            return false;
        }
    }

    private async Task<Snapshot> ReadAsync(CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var now = time.GetUtcNow();
        var open = await session.Query<OpenOperation>().ToListAsync(ct);
        var byBucket = open
            .GroupBy(o => (o.ObjectClass, o.Operation, Age: AgeBuckets.First(b => (now - o.Since).TotalSeconds < b.Upper).Label))
            .Select(g => new Measurement<long>(g.Count(), Tag("class", g.Key.ObjectClass), Tag("operation", g.Key.Operation), Tag("age", g.Key.Age)))
            .ToArray();
        var oldest = open.GroupBy(o => o.ObjectClass)
            .Select(g => new Measurement<double>(Math.Max(0, (now - g.Min(o => o.Since)).TotalSeconds), Tag("class", g.Key)))
            .ToArray();

        var progress = await store.Advanced.AllProjectionProgress(token: ct);
        var high = progress.FirstOrDefault(p => p.ShardName == "HighWaterMark")?.Sequence ?? 0;
        var lag = progress.Where(p => p.ShardName != "HighWaterMark")
            .Select(p => new Measurement<long>(Math.Max(0, high - p.Sequence), Tag("projection", p.ShardName)))
            .ToArray();
        return new Snapshot(byBucket, oldest, lag);
    }

    private static KeyValuePair<string, object?> Tag(string key, string value) => new(key, value);
}
