using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace Xapi.Cqrs.Bench;

internal enum StartMode
{
    /// <summary>POST /api/vms/{id}/start: the answer comes once the VM is Running.</summary>
    Sync,

    /// <summary>POST /api/vms/{id}/start?async=true, then GET /api/tasks/{taskId}?minVersion=2 (the server waits, bounded, until the task ends) until it is not pending.</summary>
    Async,
}

/// <summary>One start as the client saw it: started or why not, how long, how many 5xx answers it met, its task.</summary>
internal sealed record StartOutcome(bool Started, double Milliseconds, string? Failure, int Answers5xx, Guid? TaskId);

/// <summary>
/// A boot storm: build a pool through the API, then 32 clients start every VM once; then the service's state is
/// checked through the API and the events it wrote are counted in its schema.
/// </summary>
internal static class Storm
{
    public const int Clients = 32;
    private const double StartsTarget = 150;
    private const double RatioTarget = 0.15;
    private const double SyncP99Target = 1000;
    private const double CommitsPerStartTarget = 3;
    private static readonly TimeSpan StartDeadline = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan OperationsGrace = TimeSpan.FromSeconds(10);

    public static async Task<Section> RunAsync(Service service, StartMode mode, Sizes sizes, MartenLimit marten, string? pgDataDir, CancellationToken ct)
    {
        var api = service.Api;
        var section = new Section($"{mode} boot storm: {sizes.Hosts} hosts, {sizes.Vms:N0} VMs, {Clients} clients ({service.Description})");
        Program.Progress($"{mode} storm: setting up {sizes.Hosts} hosts and {sizes.Vms:N0} VMs");
        var pool = await Pool.CreateAsync(api, mode.ToString().ToLowerInvariant(), sizes.Hosts, sizes.Vms, ct);
        Program.Progress($"{mode} storm: setup took {pool.SetupTime.TotalSeconds:0.0} s; starting every VM");
        section.Figures.Add(new Figure("setup (not measured)", pool.SetupTime.TotalSeconds, "s")
        {
            Detail = $"{pool.Requests:N0} inventory requests, {Pool.Workers} workers",
        });

        var countersBefore = await Counters.ReadAsync(api, ct);
        var seqBefore = service.Events is { } log ? await log.LastSeqAsync(ct) : (long?)null;
        var logBefore = service.LogBytes();
        var cpu = new CpuMeter(service.Pid, pgDataDir);
        var cpuBefore = cpu.Read();

        var outcomes = new StartOutcome[pool.Vms.Count];
        var started = Stopwatch.GetTimestamp();
        await Parallel.ForAsync(0, pool.Vms.Count, Pool.Concurrency(Clients, ct), async (i, token) =>
            outcomes[i] = await StartAsync(api, pool.Vms[i], mode, token));
        var wall = Stopwatch.GetElapsedTime(started);
        var cpuAfter = cpu.Read();
        service.EnsureRunning();
        Program.Progress($"{mode} storm: {outcomes.Count(o => o.Started):N0}/{outcomes.Length:N0} started in {wall.TotalSeconds:0.0} s; checking");

        var checks = await CheckAsync(api, pool, outcomes, mode, ct);
        var countersAfter = await Counters.ReadAsync(api, ct);
        var written = seqBefore is { } seq ? await service.Events!.SinceAsync(seq, ct) : ((long Events, long Commits)?)null;
        var logAfter = service.LogBytes();

        var ok = outcomes.Count(o => o.Started);
        var failed = outcomes.Where(o => !o.Started).ToList();
        var latency = Percentiles.Of(outcomes.Select(o => o.Milliseconds));
        var startsPerSecond = ok / wall.TotalSeconds;
        var ratio = startsPerSecond / marten.CommitsPerSecond;
        section.Figures.Add(new Figure("starts/s", startsPerSecond, "/s")
        {
            Baseline = marten.CommitsPerSecond,
            BaselineName = "bare-Marten commits/s",
            Target = $"≥ {StartsTarget:0}/s, ratio ≥ {RatioTarget}",
            Ok = startsPerSecond >= StartsTarget && ratio >= RatioTarget,
            Detail = $"{ok:N0} VMs started in {wall.TotalSeconds:0.0} s",
        });
        var what = mode == StartMode.Sync ? "request time" : "POST to task finished";
        section.Figures.Add(LatencyFigure("latency p50", latency.P50, marten.Latency.P50, $"{what}, all {latency.Count:N0} starts"));
        section.Figures.Add(LatencyFigure("latency p95", latency.P95, marten.Latency.P95));
        var p99 = LatencyFigure("latency p99", latency.P99, marten.Latency.P99);
        section.Figures.Add(mode == StartMode.Sync ? p99 with { Target = $"< {SyncP99Target:0} ms", Ok = latency.P99 < SyncP99Target } : p99);
        var fivexx = outcomes.Sum(o => o.Answers5xx);
        section.Figures.Add(new Figure("5xx answers", fivexx, "") { Target = "0", Ok = fivexx == 0 });
        section.Figures.Add(new Figure("failed starts", failed.Count, "")
        {
            Target = "0",
            Ok = failed.Count == 0,
            Detail = string.Join(", ", failed.GroupBy(o => o.Failure).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} ×{g.Count()}")),
        });
        section.Figures.AddRange(WrittenFigures(written, ok));
        section.Figures.AddRange(CpuFigures(cpuBefore, cpuAfter, wall, ok));
        section.Figures.AddRange(Counters.Figures(countersBefore, countersAfter));
        section.Figures.AddRange(checks);
        section.Figures.AddRange(LogFigures(service, logBefore, logAfter, ok));
        if (mode == StartMode.Async)
        {
            section.Notes.Add("Async latencies are as the clients saw them, each waiting with GET /api/tasks/{id}?minVersion=2 (answered when the task ends, or after 5 s).");
        }

        return section;
    }

    /// <summary>Starts one VM as a client would, with a 5-minute deadline; never throws for the service's answers.</summary>
    public static async Task<StartOutcome> StartAsync(Api api, Guid vm, StartMode mode, CancellationToken ct)
    {
        var begun = Stopwatch.GetTimestamp();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(StartDeadline);
        StartOutcome Done(string? failure = null, int answers5xx = 0, Guid? task = null) =>
            new(failure is null, Report.MillisecondsSince(begun), failure, answers5xx, task);
        try
        {
            if (mode == StartMode.Sync)
            {
                var answer = await api.PostAsync($"/api/vms/{vm}/start", new { }, deadline.Token);
                return answer.IsSuccess ? Done() : Done(answer.Describe(), answer.Is5xx ? 1 : 0);
            }

            var posted = await api.PostAsync($"/api/vms/{vm}/start?async=true", new { }, deadline.Token);
            if (posted.Status != 202 || !posted.Json.TryGetProperty("taskId", out var id) || !id.TryGetGuid(out var taskId))
            {
                return Done(posted.Status == 202 ? "202 without a taskId" : posted.Describe(), posted.Is5xx ? 1 : 0);
            }

            while (true)
            {
                // A finished task has two events, its creation and its end: ?minVersion=2 waits for it on the server.
                var task = await api.GetAsync($"/api/tasks/{taskId}?minVersion=2", deadline.Token);
                if (task.Status != 200)
                {
                    return Done($"task GET {task.Describe()}", task.Is5xx ? 1 : 0, taskId);
                }

                var status = task.Json.GetProperty("status").GetString();
                if (status != "pending")
                {
                    return status == "success" ? Done(task: taskId) : Done($"task {status}: {FirstError(task.Json)}", task: taskId);
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return Done($"no answer within {StartDeadline.TotalMinutes:0} min");
        }
        catch (HttpRequestException e)
        {
            return Done($"client error {e.HttpRequestError}");
        }
    }

    private static string FirstError(JsonElement task) =>
        task.TryGetProperty("errorInfo", out var info) && info.ValueKind == JsonValueKind.Array && info.GetArrayLength() > 0
            ? info[0].GetString() ?? "?"
            : "(no errorInfo)";

    private static Figure LatencyFigure(string name, double value, double baseline, string? detail = null) =>
        new(name, value, "ms") { Baseline = baseline, BaselineName = "bare-Marten commit", Detail = detail };

    private static IEnumerable<Figure> WrittenFigures((long Events, long Commits)? written, int started)
    {
        if (written is not { } w || started == 0)
        {
            var why = written is null ? "n/a: the service's database is not known (give --service-cs)" : "n/a: no VM started";
            yield return new Figure("events per start", null, "") { Detail = why };
            yield return new Figure("commits per start", null, "") { Target = $"≤ {CommitsPerStartTarget:0}", Detail = why };
            yield break;
        }

        var detail = $"{w.Events:N0} events in {w.Commits:N0} commits for {started:N0} starts, from the first start until the checks were done";
        yield return new Figure("events per start", (double)w.Events / started, "") { Detail = detail };
        var commits = (double)w.Commits / started;
        yield return new Figure("commits per start", commits, "")
        {
            Target = $"≤ {CommitsPerStartTarget:0}",
            Ok = commits <= CommitsPerStartTarget,
        };
    }

    /// <summary>CPU per start in the service and in PostgreSQL during the storm phase: where the time goes.</summary>
    private static IEnumerable<Figure> CpuFigures((double? Service, double? Postgres) before, (double? Service, double? Postgres) after, TimeSpan wall, int started)
    {
        if (started == 0)
        {
            yield break;
        }

        var cores = Environment.ProcessorCount * wall.TotalSeconds;
        foreach (var (name, b, a) in new[] { ("service CPU per start", before.Service, after.Service), ("PostgreSQL CPU per start", before.Postgres, after.Postgres) })
        {
            yield return b is { } x && a is { } y
                ? new Figure(name, (y - x) * 1000 / started, "ms") { Detail = $"{y - x:0.0} CPU-s of {cores:0.0} core-s available during the storm ({(y - x) / cores:P0})" }
                : new Figure(name, null, "ms") { Detail = "n/a: not this run's process" };
        }
    }

    private static IEnumerable<Figure> LogFigures(Service service, long? before, long? after, int started)
    {
        if (before is not { } b || after is not { } a)
        {
            yield return new Figure("service log", null, "bytes") { Detail = "n/a: the service is not this run's child" };
            yield break;
        }

        var levels = LogLevels(service.LogPath!, b);
        yield return new Figure("service log (storm)", a - b, "bytes")
        {
            Detail = $"{levels}; whole log {a:N0} bytes",
        };
        yield return new Figure("log bytes per start", started == 0 ? null : (double)(a - b) / started, "bytes");
    }

    /// <summary>How many console-logger entries at warn, fail and crit the log holds after <paramref name="offset"/>.</summary>
    private static string LogLevels(string path, long offset)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        stream.Seek(offset, SeekOrigin.Begin);
        using var reader = new StreamReader(stream);
        var counts = new Dictionary<string, int> { ["warn"] = 0, ["fail"] = 0, ["crit"] = 0 };
        while (reader.ReadLine() is { } line)
        {
            if (line.Length >= 5 && line[4] == ':' && counts.ContainsKey(line[..4]))
            {
                counts[line[..4]]++;
            }
        }

        return string.Join(", ", counts.Select(c => $"{c.Value:N0} {c.Key}"));
    }

    /// <summary>The service's state after the storm, through the API.</summary>
    private static async Task<List<Figure>> CheckAsync(Api api, BenchPool pool, StartOutcome[] outcomes, StartMode mode, CancellationToken ct)
    {
        var figures = new List<Figure> { await OpenOperationsAsync(api, ct) };

        var vms = (await api.GetJsonAsync("/api/vms", ct)).EnumerateArray().ToDictionary(v => v.GetProperty("id").GetGuid());
        var running = pool.Vms.Count(id => vms.TryGetValue(id, out var vm) && vm.GetProperty("powerState").GetString() == "Running");
        figures.Add(Figure.MustBeZero("VMs not Running", pool.Vms.Count - running, $"{running:N0}/{pool.Vms.Count:N0} Running (GET /api/vms)"));

        if (mode == StartMode.Async)
        {
            var tasks = outcomes.Where(o => o.TaskId is not null).Select(o => o.TaskId!.Value).ToList();
            var statuses = new string?[tasks.Count];
            await Parallel.ForAsync(0, tasks.Count, Pool.Concurrency(Clients, ct), async (i, token) =>
                statuses[i] = (await api.GetJsonAsync($"/api/tasks/{tasks[i]}", token)).GetProperty("status").GetString());
            var pending = statuses.Count(s => s == "pending");
            figures.Add(Figure.MustBeZero("tasks not finished", pending, $"{tasks.Count:N0} tasks read again, {pending:N0} pending"));
        }
        else
        {
            var busy = pool.Vms.Count(id => vms.TryGetValue(id, out var vm) && vm.GetProperty("currentOperations").EnumerateObject().Any());
            figures.Add(Figure.MustBeZero("tasks not finished", busy, "sync answers carry no task id: VMs with a current operation"));
        }

        figures.Add(await OvercommitAsync(api, ct));
        return figures;
    }

    /// <summary>GET /api/admin/operations must be empty; if not, how long until it drains (up to 10 s).</summary>
    private static async Task<Figure> OpenOperationsAsync(Api api, CancellationToken ct)
    {
        var open = (await api.GetJsonAsync("/api/admin/operations", ct)).GetArrayLength();
        if (open == 0)
        {
            return Figure.MustBeZero("open operations", 0, "GET /api/admin/operations right after the storm");
        }

        var waited = Stopwatch.GetTimestamp();
        JsonElement left;
        do
        {
            await Task.Delay(250, ct);
            left = await api.GetJsonAsync("/api/admin/operations", ct);
        }
        while (left.GetArrayLength() > 0 && Stopwatch.GetElapsedTime(waited) < OperationsGrace);

        var detail = left.GetArrayLength() == 0
            ? $"right after the storm; drained {Stopwatch.GetElapsedTime(waited).TotalSeconds:0.0} s later"
            : $"right after the storm; still {left.GetArrayLength()} after {OperationsGrace.TotalSeconds:0} s, e.g. " +
              string.Join("; ", left.EnumerateArray().Take(3).Select(o => o.GetRawText()));
        return Figure.MustBeZero("open operations", open, detail);
    }

    /// <summary>
    /// Per host (GET /api/hosts/{id}): memoryFree ≥ 0, and Σ over residentVms of (memoryDynamicMin + memoryOverhead),
    /// each from GET /api/vms/{id}, ≤ memoryTotal − memoryOverhead.
    /// </summary>
    private static async Task<Figure> OvercommitAsync(Api api, CancellationToken ct)
    {
        var ids = (await api.GetJsonAsync("/api/hosts", ct)).EnumerateArray().Select(h => h.GetProperty("id").GetGuid()).ToList();
        var hosts = new JsonElement[ids.Count];
        await Parallel.ForAsync(0, ids.Count, Pool.Concurrency(Clients, ct), async (i, token) =>
            hosts[i] = await api.GetJsonAsync($"/api/hosts/{ids[i]}", token));

        static IEnumerable<Guid> Resident(JsonElement host) => host.GetProperty("residentVms").EnumerateArray().Select(v => v.GetGuid());
        var residents = hosts.SelectMany(Resident).Distinct().ToList();
        var used = new ConcurrentDictionary<Guid, long>();
        await Parallel.ForAsync(0, residents.Count, Pool.Concurrency(Clients, ct), async (i, token) =>
        {
            var vm = await api.GetJsonAsync($"/api/vms/{residents[i]}", token);
            used[residents[i]] = vm.GetProperty("memoryDynamicMin").GetInt64() + vm.GetProperty("memoryOverhead").GetInt64();
        });

        var over = 0;
        var fullest = 0.0;
        foreach (var host in hosts)
        {
            var guestMemory = host.GetProperty("memoryTotal").GetInt64() - host.GetProperty("memoryOverhead").GetInt64();
            var sum = Resident(host).Sum(id => used[id]);
            if (host.GetProperty("memoryFree").GetInt64() < 0 || sum > guestMemory)
            {
                over++;
            }

            fullest = Math.Max(fullest, guestMemory > 0 ? (double)sum / guestMemory : 0);
        }

        return Figure.MustBeZero("overcommitted hosts", over,
            $"{hosts.Length} hosts, {residents.Count:N0} resident VMs; fullest host uses {fullest:P1} of its guest memory");
    }
}

/// <summary>GET /api/admin/counters (pool-admin): named counters, if the service has them.</summary>
internal sealed record Counters(int Status, IReadOnlyDictionary<string, JsonElement> Values)
{
    public static async Task<Counters> ReadAsync(Api api, CancellationToken ct)
    {
        var answer = await api.GetAsync("/api/admin/counters", ct);
        return answer.Status == 200 && answer.Json.ValueKind == JsonValueKind.Object
            ? new Counters(200, answer.Json.EnumerateObject().ToDictionary(p => p.Name, p => p.Value))
            : new Counters(answer.Status, new Dictionary<string, JsonElement>());
    }

    /// <summary>One row per counter: how much it grew during the storm (numbers), or its value as given.</summary>
    public static IEnumerable<Figure> Figures(Counters before, Counters after)
    {
        if (after.Status != 200)
        {
            yield return new Figure("counters", null, "") { Detail = $"n/a (GET /api/admin/counters answered {after.Status})" };
            yield break;
        }

        foreach (var (name, value) in after.Values)
        {
            if (value.ValueKind == JsonValueKind.Number)
            {
                var was = before.Values.TryGetValue(name, out var b) && b.ValueKind == JsonValueKind.Number ? b.GetDouble() : 0;
                yield return new Figure($"counter {name}", value.GetDouble() - was, "") { Detail = $"growth during the storm; now {value.GetRawText()}" };
            }
            else
            {
                yield return new Figure($"counter {name}", null, "") { Detail = value.GetRawText() };
            }
        }
    }
}
