using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Vms;

/// <summary>
/// Issue "the start path at pool scale": a storm of asynchronous starts on a pool at its memory edge. Every
/// start ends — running, or refused with a code — with no 5xx, no operation left open and no host overcommitted.
/// Bounded: 64 starts, 32 at a time.
/// </summary>
public sealed class StartStormTests(XapiServer server) : IClassFixture<XapiServer>
{
    private const int Vms = 64;
    private const int Clients = 32;
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sixty_four_async_starts_from_32_clients_at_the_memory_edge_all_end_without_5xx_or_overcommit()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var spec = new VmSpec { DynamicMin = 256 * Pool.MiB, DynamicMax = 256 * Pool.MiB, StaticMin = 256 * Pool.MiB, StaticMax = 256 * Pool.MiB, VcpusMax = 1, VcpusAtStartup = 1, Vifs = 2 };
        var first = await pool.VmAsync(spec);
        var perVm = spec.DynamicMin + (await pool.VmRecordAsync(first.Id)).GetProperty("memoryOverhead").GetInt64();

        // Four hosts with room for 12 such VMs each and a little: 48 of the 64 fit.
        for (var h = 0; h < 4; h++)
        {
            await pool.HostAsync(memoryTotal: (12 * perVm) + (perVm / 3), memoryOverhead: 0, cpuCount: 8);
        }

        await Task.WhenAll(Enumerable.Range(1, Vms - 1).Select(_ => pool.VmAsync(spec)));

        var outcomes = new ConcurrentBag<(Guid Vm, string Outcome, string Detail)>();
        using var gate = new SemaphoreSlim(Clients);
        await Task.WhenAll(pool.Vms.Select(async vm =>
        {
            await gate.WaitAsync(ct);
            try
            {
                outcomes.Add(await StartAndAwaitAsync(client, vm.Id));
            }
            finally
            {
                gate.Release();
            }
        }));

        var all = outcomes.ToList();
        var report = string.Join("\n", all.Where(o => o.Outcome != "success").Select(o => $"{o.Vm}: {o.Outcome} {o.Detail}"));
        all.Count.ShouldBe(Vms);
        all.ShouldAllBe(o => o.Outcome == "success" || o.Outcome == "refused", report);
        all.Count(o => o.Outcome == "success").ShouldBe(48, report);
        all.Where(o => o.Outcome == "refused").ShouldAllBe(o => o.Detail == "NO_HOSTS_AVAILABLE" || o.Detail == "HOST_NOT_ENOUGH_FREE_MEMORY", report);
        foreach (var (vm, outcome, _) in all)
        {
            (await pool.VmRecordAsync(vm)).GetProperty("powerState").GetString().ShouldBe(outcome == "success" ? "Running" : "Halted");
        }

        await pool.AssertNoOvercommitAsync("after the storm");
    }

    /// <summary>
    /// POST start?async=true, then wait for the task through GET /api/tasks/{id}?minVersion=2 (a finished task has
    /// its creation and its end: the server waits, bounded, until then). A 409 at once is a refusal; a 5xx is not allowed.
    /// </summary>
    private async Task<(Guid Vm, string Outcome, string Detail)> StartAndAwaitAsync(HttpClient client, Guid vm)
    {
        var response = await client.PostAsJsonAsync($"/api/vms/{vm}/start?async=true", new { }, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if ((int)response.StatusCode >= 500)
        {
            return (vm, "5xx", text);
        }

        if (response.StatusCode == HttpStatusCode.Conflict)
        {
            return (vm, "refused", JsonDocument.Parse(text).RootElement.GetProperty("code").GetString()!);
        }

        response.StatusCode.ShouldBe(HttpStatusCode.Accepted, text);
        var taskId = JsonDocument.Parse(text).RootElement.GetProperty("taskId").GetGuid();
        for (var attempt = 0; attempt < 24; attempt++)
        {
            var task = await client.GetJson($"/api/tasks/{taskId}?minVersion=2");
            switch (task.GetProperty("status").GetString())
            {
                case "success":
                    return (vm, "success", "");
                case "failure":
                    return (vm, "refused", task.GetProperty("errorInfo")[0].GetString()!);
            }
        }

        return (vm, "pending", $"task {taskId} did not finish within 2 minutes");
    }
}
