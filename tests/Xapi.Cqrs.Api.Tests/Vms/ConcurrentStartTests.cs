using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Vms;

/// <summary>
/// Issue "VM.start": concurrent starts never overcommit a host (XAPI.md §11.9, §11.10). Every pool has its own
/// network and SR, so its VMs can only be placed on its own hosts.
/// </summary>
public sealed class ConcurrentStartTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Ten_concurrent_starts_on_room_for_six_give_six_and_four_NO_HOSTS_AVAILABLE()
    {
        var random = new Random(20240601);
        for (var round = 0; round < 3; round++)
        {
            using var client = server.Client();
            var pool = await Pool.CreateAsync(client, ct);
            var dynamicMin = random.Next(256, 1025) * Pool.MiB;
            var spec = new VmSpec { DynamicMin = dynamicMin, DynamicMax = dynamicMin, StaticMax = 2 * Pool.GiB, StaticMin = 128 * Pool.MiB, VcpusMax = 1, VcpusAtStartup = 1 };
            var first = await pool.VmAsync(spec);
            var overhead = (await pool.VmRecordAsync(first.Id)).GetProperty("memoryOverhead").GetInt64();
            var perVm = dynamicMin + overhead;
            for (var h = 0; h < 3; h++)
            {
                await pool.HostAsync(memoryTotal: (2 * perVm) + (perVm / 2), memoryOverhead: 0, cpuCount: 4);
            }

            for (var v = 1; v < 10; v++)
            {
                await pool.VmAsync(spec);
            }

            var (ok, refused) = await StartAllAsync(client, pool);

            ok.Count.ShouldBe(6, $"round {round}: {Describe(refused)}");
            refused.Count.ShouldBe(4, $"round {round}: {Describe(refused)}");
            await pool.AssertNoOvercommitAsync($"round {round}");
            foreach (var host in pool.Hosts)
            {
                (await pool.HostRecordAsync(host)).GetProperty("residentVms").GetArrayLength().ShouldBe(2, $"round {round}");
            }
        }
    }

    [Fact]
    public async Task Concurrent_starts_of_varied_sizes_never_overcommit()
    {
        var random = new Random(42);
        for (var round = 0; round < 3; round++)
        {
            using var client = server.Client();
            var pool = await Pool.CreateAsync(client, ct);
            long sum = 0;
            for (var v = 0; v < 10; v++)
            {
                var dynamicMin = random.Next(256, 1537) * Pool.MiB;
                var staticMax = dynamicMin + (random.Next(0, 1024) * Pool.MiB);
                var vm = await pool.VmAsync(new VmSpec
                {
                    DynamicMin = dynamicMin, DynamicMax = staticMax, StaticMax = staticMax, StaticMin = 128 * Pool.MiB,
                    VcpusMax = random.Next(1, 5), VcpusAtStartup = 1,
                });
                var record = await pool.VmRecordAsync(vm.Id);
                sum += record.GetProperty("memoryDynamicMin").GetInt64() + record.GetProperty("memoryOverhead").GetInt64();
            }

            // Room for about six of the ten on three hosts.
            for (var h = 0; h < 3; h++)
            {
                await pool.HostAsync(memoryTotal: (sum / 5) + (random.Next(0, 256) * Pool.MiB), memoryOverhead: random.Next(0, 128) * Pool.MiB, cpuCount: 4);
            }

            var (ok, refused) = await StartAllAsync(client, pool, hostMayRefuse: true);

            ok.ShouldNotBeEmpty($"round {round}");
            (ok.Count + refused.Count).ShouldBe(10);
            await pool.AssertNoOvercommitAsync($"round {round}");
        }
    }

    /// <summary>
    /// Fires every start of the pool's VMs at once. A refusal is 409 NO_HOSTS_AVAILABLE [] from placement or,
    /// when <paramref name="hostMayRefuse"/> (VMs of different sizes), HOST_NOT_ENOUGH_FREE_MEMORY [needed; available]
    /// from the host's reservation after placement's second pass chose a host without the memory check (§4.2, §5.5).
    /// </summary>
    private async Task<(List<Guid> Ok, List<(Guid Vm, string Body)> Refused)> StartAllAsync(HttpClient client, Pool pool, bool hostMayRefuse = false)
    {
        var results = await Task.WhenAll(pool.Vms.Select(async vm =>
        {
            var response = await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start", new { }, ct);
            return (vm.Id, response.StatusCode, Body: await response.Content.ReadAsStringAsync(ct));
        }));

        var ok = new List<Guid>();
        var refused = new List<(Guid, string)>();
        foreach (var (vm, status, answer) in results)
        {
            var body = answer;
            if (status == HttpStatusCode.OK)
            {
                var record = JsonDocument.Parse(body).RootElement;
                record.GetProperty("powerState").GetString().ShouldBe("Running", body);
                ok.Add(vm);
                continue;
            }

            status.ShouldBe(HttpStatusCode.Conflict, body);
            var problem = JsonDocument.Parse(body).RootElement;
            if (problem.GetProperty("code").GetString() is not ("NO_HOSTS_AVAILABLE" or "HOST_NOT_ENOUGH_FREE_MEMORY"))
            {
                var history = (await pool.GetAsync($"/api/vms/{vm}/history")).EnumerateArray()
                    .Select(e => $"{e.GetProperty("type").GetString()}@{e.GetProperty("stream").GetGuid().ToString()[..8]} corr={e.GetProperty("correlationId").GetString()}");
                var now = await pool.VmRecordAsync(vm);
                body += "\nVM now: " + now.GetProperty("powerState").GetString() + "\nhistory: " + string.Join("\n  ", history);
            }

            var code = problem.GetProperty("code").GetString();
            if (hostMayRefuse && code == "HOST_NOT_ENOUGH_FREE_MEMORY")
            {
                problem.GetProperty("params").GetArrayLength().ShouldBe(2, body);
            }
            else
            {
                code.ShouldBe("NO_HOSTS_AVAILABLE", body);
                problem.GetProperty("params").GetArrayLength().ShouldBe(0, body);
            }
            (await pool.VmRecordAsync(vm)).GetProperty("powerState").GetString().ShouldBe("Halted");
            refused.Add((vm, body));
        }

        return (ok, refused);
    }

    private static string Describe(List<(Guid Vm, string Body)> refused) => string.Join("; ", refused.Select(r => r.Body));
}
