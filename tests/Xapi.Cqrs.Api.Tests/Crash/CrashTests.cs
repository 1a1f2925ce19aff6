using System.Net;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;

namespace Xapi.Cqrs.Api.Tests.Crash;

/// <summary>
/// Issue "the rest of the lifecycle and every bad day": the real service process is killed (SIGKILL) at random points of
/// many starts, shutdowns and reboots, then started again, over 10 rounds. After each round every VM is Running with its
/// domain or Halted without one, no operation is open, no reservation is left, and each host's free memory is exactly
/// what its resident VMs imply. The kill point is chosen by the log, not the clock: after a random number of commits to
/// one of the VMs being worked on.
/// </summary>
public sealed class CrashTests
{
    private const int Rounds = 10;
    private const int VmCount = 12;

    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Killing_the_service_mid_operation_never_leaves_anything_half_done()
    {
        await using var service = new ServiceProcess("crash", "--Xapi:Seed=11");
        await service.StartAsync(ct);
        using var client = service.Client();
        var pool = await Pool.CreateAsync(client, ct);
        for (var h = 0; h < 4; h++)
        {
            await pool.HostAsync(memoryTotal: 8 * Pool.GiB);
        }

        var vms = new List<PoolVm>();
        for (var i = 0; i < VmCount; i++)
        {
            vms.Add(await pool.VmAsync(new VmSpec { Vifs = 1 }));
        }

        var random = new Random(20261201);
        for (var round = 0; round < Rounds; round++)
        {
            var worked = new List<(Guid Vm, long Version)>();
            foreach (var vm in vms)
            {
                var record = await pool.VmRecordAsync(vm.Id);
                var call = record.GetProperty("powerState").GetString() switch
                {
                    "Halted" => "start",
                    "Running" => random.Next(4) switch { 0 => "hard-shutdown", 1 => "clean-reboot", 2 => "pause", _ => "clean-shutdown" },
                    "Paused" => random.Next(2) == 0 ? "unpause" : "hard-shutdown",
                    var other => throw new InvalidOperationException($"round {round}: VM {vm.Id} is {other}"),
                };
                var response = await client.PostAsync($"/api/vms/{vm.Id}/{call}?async=true", null, ct);
                response.StatusCode.ShouldBe(HttpStatusCode.Accepted, $"round {round}: {call} of {vm.Id}: {await response.Content.ReadAsStringAsync(ct)}");
                worked.Add((vm.Id, record.GetProperty("version").GetInt64()));
            }

            // Kill after a random number (1..8) of further commits to one of the VMs: somewhere in its host-side steps.
            var (target, version) = worked[random.Next(worked.Count)];
            await pool.GetAsync($"/api/vms/{target}?minVersion={version + 1 + random.Next(8)}");
            await service.KillAsync();
            await service.StartAsync(ct);

            await Invariants.SettledAndConsistentAsync(pool, vms, $"round {round}");
        }
    }
}
