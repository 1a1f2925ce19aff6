using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Npgsql;

namespace Xapi.Cqrs.Bench;

/// <summary>
/// Audit replay and projection rebuild, on a service of its own: one VM with a long history (pause/unpause until its
/// stream holds <see cref="Sizes"/>' target events) among others, then
/// <list type="bullet">
/// <item>history (first page) and as-of (?version= at random) for that VM: p50/p99, against GET /api/vms/{id};</item>
/// <item>rebuilding every projection through the API: events read per second, against a plain sequential read of the
/// events table in the same run (target ≥ 25 %);</item>
/// </list>
/// at the log as the workload left it, and again after the log is grown to the synthetic size by copying VM streams
/// (SQL, with new stream ids): the cost of history and as-of must stay flat.
/// </summary>
internal static class Audit
{
    private const int Samples = 200;
    private const double RebuildTarget = 0.25;

    public static async Task<Section> RunAsync(Service service, Sizes sizes, CancellationToken ct)
    {
        var api = service.Api;
        var section = new Section($"Audit: history, as-of and projection rebuild, one VM of {sizes.AuditVmEvents:N0} events ({service.Description})");
        Program.Progress($"audit: a pool of 2 hosts and 21 VMs; one VM driven to {sizes.AuditVmEvents} events");
        var pool = await Pool.CreateAsync(api, "audit", 2, 21, ct);
        var target = pool.Vms[0];
        foreach (var vm in pool.Vms)
        {
            await Storm.StartAsync(api, vm, StartMode.Sync, ct);
        }

        var version = 0L;
        while (version < sizes.AuditVmEvents)
        {
            foreach (var op in new[] { "pause", "unpause" })
            {
                var answer = await api.PostAsync($"/api/vms/{target}/{op}", new { }, ct);
                version = answer.Status == 200 ? answer.Json.GetProperty("version").GetInt64() : throw new BenchException($"{op}: {answer.Describe()}");
            }
        }

        if (service.Events is not { } log)
        {
            section.Notes.Add("the service's database is not known (--url without --service-cs): the rebuild baseline and the synthetic log are left out");
            await MeasureReadsAsync(api, section, target, version, "", ct);
            return section;
        }

        await SettleAsync(api, ct);
        var small = await log.LastSeqAsync(ct);
        await MeasureReadsAsync(api, section, target, version, $" at {small:N0} events", ct);
        await MeasureRebuildAsync(api, log, section, $" at {small:N0} events", ct);

        Program.Progress($"audit: growing the log to {sizes.AuditLogEvents:N0} events by copying VM streams");
        var grown = await GrowAsync(log, pool.Vms.Skip(1).ToArray(), sizes.AuditLogEvents, ct);
        await SettleAsync(api, ct);
        await MeasureReadsAsync(api, section, target, version, $" at {grown:N0} events", ct);
        await MeasureRebuildAsync(api, log, section, $" at {grown:N0} events", ct);
        service.EnsureRunning();
        return section;
    }

    /// <summary>Waits (polling, this is not a test) until the async projections have caught up with the log.</summary>
    private static async Task SettleAsync(Api api, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        while ((await api.GetJsonAsync("/api/admin/projections", ct)).EnumerateArray().Any(p => p.GetProperty("lag").GetInt64() > 0))
        {
            if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromMinutes(15))
            {
                throw new BenchException("the async projections did not catch up with the log within 15 minutes");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
        }
    }

    private static async Task MeasureReadsAsync(Api api, Section section, Guid vm, long versions, string at, CancellationToken ct)
    {
        var random = new Random(42);
        var baseline = new List<double>();
        var history = new List<double>();
        var asOf = new List<double>();
        for (var i = 0; i < Samples; i++)
        {
            baseline.Add((await Ok(api, $"/api/vms/{vm}", ct)).TotalMilliseconds);
            history.Add((await Ok(api, $"/api/vms/{vm}/history", ct)).TotalMilliseconds);
            asOf.Add((await Ok(api, $"/api/vms/{vm}/history?version={random.NextInt64(1, versions + 1)}", ct)).TotalMilliseconds);
        }

        var read = Percentiles.Of(baseline);
        var h = Percentiles.Of(history);
        var a = Percentiles.Of(asOf);
        section.Figures.Add(new Figure($"history p50{at}", h.P50, "ms") { Baseline = read.P50, BaselineName = "GET /api/vms/{id}", Detail = "first page (500 events)" });
        section.Figures.Add(new Figure($"history p99{at}", h.P99, "ms") { Baseline = read.P99, BaselineName = "GET /api/vms/{id}" });
        section.Figures.Add(new Figure($"as-of p50{at}", a.P50, "ms") { Baseline = read.P50, BaselineName = "GET /api/vms/{id}", Detail = $"?version= at random in 1..{versions}" });
        section.Figures.Add(new Figure($"as-of p99{at}", a.P99, "ms") { Baseline = read.P99, BaselineName = "GET /api/vms/{id}", Target = "< 20 ms", Ok = a.P99 < 20 });
    }

    private static async Task<TimeSpan> Ok(Api api, string path, CancellationToken ct)
    {
        var answer = await api.GetAsync(path, ct);
        return answer.Status == 200 ? answer.Elapsed : throw new BenchException($"GET {path} answered {answer.Describe()}");
    }

    private static async Task MeasureRebuildAsync(Api api, EventLog log, Section section, string at, CancellationToken ct)
    {
        // The baseline: every event's data read in order, as plainly as PostgreSQL and Npgsql allow.
        var started = Stopwatch.GetTimestamp();
        long rows = 0;
        await using (var command = log.Database.CreateCommand($"select data::text from {log.Schema}.mt_events order by seq_id"))
        await using (var reader = await command.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                _ = reader.GetString(0);
                rows++;
            }
        }

        var sequential = rows / Stopwatch.GetElapsedTime(started).TotalSeconds;
        long events = 0;
        double seconds = 0;
        var slowest = (Name: "", Rate: double.MaxValue);
        foreach (var projection in (await api.GetJsonAsync("/api/admin/projections", ct)).EnumerateArray().Select(p => p.GetProperty("name").GetString()!))
        {
            Program.Progress($"audit: rebuilding {projection}{at}");
            var accepted = await api.PostAsync($"/api/admin/projections/{projection}/rebuild", new { }, ct);
            if (accepted.Status != 202)
            {
                throw new BenchException($"rebuild {projection}: {accepted.Describe()}");
            }

            var task = await FinishedAsync(api, accepted.Json.GetProperty("taskId").GetGuid(), ct);
            var result = JsonDocument.Parse(task.GetProperty("result").GetString()!).RootElement;
            var e = result.GetProperty("events").GetInt64();
            var s = result.GetProperty("seconds").GetDouble();
            events += e;
            seconds += s;
            if (e / s < slowest.Rate)
            {
                slowest = (projection, e / s);
            }
        }

        var rate = events / seconds;
        section.Figures.Add(new Figure($"rebuild, every projection{at}", rate, "events/s")
        {
            Baseline = sequential,
            BaselineName = "sequential read of mt_events",
            Target = $"≥ {RebuildTarget:P0} of the baseline",
            Ok = rate >= RebuildTarget * sequential,
            Detail = string.Create(CultureInfo.InvariantCulture, $"{events:N0} events in {seconds:F1} s over all projections; slowest {slowest.Name} at {slowest.Rate:N0}/s"),
        });
    }

    private static async Task<JsonElement> FinishedAsync(Api api, Guid taskId, CancellationToken ct)
    {
        var task = await api.GetJsonAsync($"/api/tasks/{taskId}", ct);
        while (task.GetProperty("status").GetString() == "pending")
        {
            task = await api.GetJsonAsync($"/api/tasks/{taskId}?minVersion={task.GetProperty("version").GetInt64() + 1}", ct);
        }

        return task.GetProperty("status").GetString() == "success" ? task : throw new BenchException($"rebuild task {taskId}: {task}");
    }

    /// <summary>Copies the template VMs' streams under new ids until the log holds at least <paramref name="size"/> events; answers its size.</summary>
    private static async Task<long> GrowAsync(EventLog log, Guid[] templates, long size, CancellationToken ct)
    {
        var schema = log.Schema;
        long last;
        while ((last = await log.LastSeqAsync(ct)) < size)
        {
            await using var connection = await log.Database.OpenConnectionAsync(ct);
            await using var tx = await connection.BeginTransactionAsync(ct);
            var batch = $"""
                create temp table copies on commit drop as
                  select s.id as old_id, gen_random_uuid() as new_id from {schema}.mt_streams s, generate_series(1, 200) where s.id = any(@templates);
                insert into {schema}.mt_streams (id, type, version, timestamp, created, tenant_id, is_archived)
                  select c.new_id, s.type, s.version, s.timestamp, s.created, s.tenant_id, false from copies c join {schema}.mt_streams s on s.id = c.old_id;
                insert into {schema}.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, is_archived, correlation_id, causation_id, headers)
                  select nextval('{schema}.mt_events_sequence'), gen_random_uuid(), c.new_id, e.version, e.data, e.type, e.timestamp, e.tenant_id, e.mt_dotnet_type, false,
                         e.correlation_id, e.causation_id, e.headers
                  from copies c join {schema}.mt_events e on e.stream_id = c.old_id order by c.new_id, e.version;
                """;
            await using var command = new NpgsqlCommand(batch, connection, tx);
            command.Parameters.AddWithValue("templates", templates);
            await command.ExecuteNonQueryAsync(ct);
            await tx.CommitAsync(ct);
        }

        return last;
    }
}
