using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;

namespace Xapi.Cqrs.Api.Tests.Crash;

/// <summary>
/// Issue "the rest of the lifecycle and every bad day": a 60-second soak — 32 clients doing start, shutdown, reboot and
/// pause on 16 overlapping VMs of 4 hosts. Every answer is the operation's record or a refusal in xapi's codes (two
/// clients raced for one VM); never a 500, never an unknown code. It ends consistent (<see cref="Invariants"/>).
/// Bounded: the clients stop after 60 s (a test-wide cancellation, not an assertion on time).
/// </summary>
public sealed class SoakTests(XapiServer server) : IClassFixture<XapiServer>
{
    private const int Clients = 32;
    private const int VmCount = 16;
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(60);

    /// <summary>Refusals a race between clients may cause (the second client saw a state the first one changed, or a hard operation overtook its clean one).</summary>
    private static readonly HashSet<string> RaceCodes = ["VM_BAD_POWER_STATE", "OTHER_OPERATION_IN_PROGRESS", "VM_LACKS_FEATURE", "TASK_CANCELLED", "TOO_BUSY"];

    [Fact]
    public async Task Thirty_two_clients_for_a_minute_end_consistent()
    {
        var ct = TestContext.Current.CancellationToken;
        using var setup = server.Client();
        var pool = await Pool.CreateAsync(setup, ct);
        for (var h = 0; h < 4; h++)
        {
            await pool.HostAsync(memoryTotal: 8 * Pool.GiB);
        }

        var vms = new List<PoolVm>();
        for (var i = 0; i < VmCount; i++)
        {
            vms.Add(await pool.VmAsync(new VmSpec { Vifs = 1 }));
        }

        var answers = new ConcurrentDictionary<string, int>();
        var unexpected = new ConcurrentQueue<string>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stop.CancelAfter(Duration);
        var clients = Enumerable.Range(0, Clients).Select(n => Task.Run(async () =>
        {
            var random = new Random(1000 + n);
            using var client = server.Client();
            client.Timeout = TimeSpan.FromSeconds(45);
            while (!stop.IsCancellationRequested)
            {
                var vm = vms[random.Next(vms.Count)];
                var record = JsonDocument.Parse(await client.GetStringAsync($"/api/vms/{vm.Id}", ct)).RootElement;
                var call = record.GetProperty("powerState").GetString() switch
                {
                    "Halted" => "start",
                    "Paused" => random.Next(3) == 0 ? "hard-shutdown" : "unpause",
                    _ => random.Next(5) switch { 0 => "clean-shutdown", 1 => "hard-shutdown", 2 => "clean-reboot", 3 => "hard-reboot", _ => "pause" },
                };
                HttpResponseMessage response;
                try
                {
                    response = await client.PostAsync($"/api/vms/{vm.Id}/{call}", null, ct);
                }
                catch (TaskCanceledException) when (!ct.IsCancellationRequested)
                {
                    var now = await client.GetStringAsync($"/api/vms/{vm.Id}", ct);
                    var ops = await client.GetStringAsync("/api/admin/operations", ct);
                    var history = await client.GetStringAsync($"/api/vms/{vm.Id}/history", ct);
                    throw new ShouldAssertException($"{call} of {vm.Id} never answered (a task that never ends?): VM {now}; open {ops}; history {history}");
                }

                using var answer = response;
                var body = await response.Content.ReadAsStringAsync(ct);
                var outcome = response.StatusCode == HttpStatusCode.OK ? "200"
                    : JsonDocument.Parse(body).RootElement.TryGetProperty("code", out var code) ? code.GetString()! : "?";
                answers.AddOrUpdate($"{call} {outcome}", 1, (_, c) => c + 1);
                if (response.StatusCode != HttpStatusCode.OK && !(response.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.ServiceUnavailable && RaceCodes.Contains(outcome)))
                {
                    unexpected.Enqueue($"{call} {vm.Id}: {(int)response.StatusCode} {body}");
                }
            }
        }, ct)).ToList();
        await Task.WhenAll(clients);

        unexpected.ShouldBeEmpty();
        answers.Where(a => a.Key.EndsWith(" 200", StringComparison.Ordinal)).Sum(a => a.Value).ShouldBeGreaterThan(VmCount, string.Join(", ", answers));
        await Invariants.SettledAndConsistentAsync(pool, vms, "after the soak");
    }
}
