namespace Xapi.Cqrs.Bench;

/// <summary>
/// Idle start latency: on a service of its own with a small pool (4 hosts), one client starts VMs one after
/// another. Baseline: GET /api/vms/{id} on the same service, one after another (the HTTP round-trip floor).
/// </summary>
internal static class Idle
{
    private const int Hosts = 4;
    private const double P50Target = 50;

    public static async Task<Section> RunAsync(Service service, Sizes sizes, CancellationToken ct)
    {
        var api = service.Api;
        var section = new Section($"Idle start latency: {Hosts} hosts, {sizes.IdleStarts} sequential sync starts, one client ({service.Description})");
        Program.Progress($"idle: setting up {Hosts} hosts and {sizes.IdleStarts + 1} VMs");
        var pool = await Pool.CreateAsync(api, "idle", Hosts, sizes.IdleStarts + 1, ct);

        // Warm-up, not counted: the first reads and the first start of a fresh process JIT their paths.
        for (var i = 0; i < 10; i++)
        {
            await api.GetJsonAsync($"/api/vms/{pool.Vms[0]}", ct);
        }

        var warmUp = await Storm.StartAsync(api, pool.Vms[0], StartMode.Sync, ct);
        var measured = pool.Vms.Skip(1).ToList();

        Program.Progress($"idle: {measured.Count} reads, then {measured.Count} starts");
        var reads = new List<double>();
        foreach (var vm in measured)
        {
            var answer = await api.GetAsync($"/api/vms/{vm}", ct);
            if (answer.Status != 200)
            {
                throw new BenchException($"GET /api/vms/{vm} answered {answer.Describe()}");
            }

            reads.Add(answer.Elapsed.TotalMilliseconds);
        }

        var starts = new List<StartOutcome>();
        foreach (var vm in measured)
        {
            starts.Add(await Storm.StartAsync(api, vm, StartMode.Sync, ct));
        }

        service.EnsureRunning();
        var read = Percentiles.Of(reads);
        var start = Percentiles.Of(starts.Select(s => s.Milliseconds));
        var failed = starts.Where(s => !s.Started).ToList();
        var detail = $"{starts.Count - failed.Count}/{starts.Count} started" +
            (failed.Count == 0 ? "" : " (" + string.Join(", ", failed.GroupBy(f => f.Failure).Select(g => $"{g.Key} ×{g.Count()}")) + ")") +
            $"; not counted: 10 warm-up reads and a warm-up start ({warmUp.Milliseconds:0} ms{(warmUp.Started ? "" : $", {warmUp.Failure}")})";
        section.Figures.Add(new Figure("start p50", start.P50, "ms")
        {
            Baseline = read.P50,
            BaselineName = "GET /api/vms/{id}",
            Target = $"≤ {P50Target:0} ms",
            Ok = start.P50 <= P50Target,
            Detail = detail,
        });
        section.Figures.Add(new Figure("start p99", start.P99, "ms") { Baseline = read.P99, BaselineName = "GET /api/vms/{id}" });
        section.Figures.Add(new Figure("failed starts", failed.Count, "") { Target = "0", Ok = failed.Count == 0 });
        return section;
    }
}
