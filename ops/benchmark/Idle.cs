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

        // Where the time of a start goes: its host-side steps carry their own durations on the hypervisor
        // (the simulated host's hotplug, chiefly); the rest is the service (decision, commits, agent, answer).
        var hypervisor = new List<double>();
        foreach (var vm in measured)
        {
            var history = await api.GetJsonAsync($"/api/vms/{vm}/history", ct);
            hypervisor.Add(history.EnumerateArray()
                .Where(e => e.GetProperty("data").ValueKind == System.Text.Json.JsonValueKind.Object
                    && e.GetProperty("data").TryGetProperty("durationMs", out var d) && d.ValueKind == System.Text.Json.JsonValueKind.Number)
                .Sum(e => e.GetProperty("data").GetProperty("durationMs").GetDouble()));
        }

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
        var steps = Percentiles.Of(hypervisor);
        var own = Percentiles.Of(starts.Zip(hypervisor, (s, h) => s.Milliseconds - h));
        section.Figures.Add(new Figure("of which hypervisor p50", steps.P50, "ms")
        {
            Detail = "sum of the start's host-side step durations (DomainCreated … DomainUnpaused), as the steps record them",
        });
        section.Figures.Add(new Figure("of which service p50", own.P50, "ms")
        {
            Baseline = read.P50,
            BaselineName = "GET /api/vms/{id}",
            Detail = "start time minus its hypervisor steps: HTTP, decision, commits, agent hand-off, answer",
        });
        section.Figures.Add(new Figure("failed starts", failed.Count, "") { Target = "0", Ok = failed.Count == 0 });
        return section;
    }
}
