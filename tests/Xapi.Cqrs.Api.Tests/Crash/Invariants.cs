using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Vms;

namespace Xapi.Cqrs.Api.Tests.Crash;

/// <summary>
/// What must hold once every operation has ended, whatever happened before (crashes, races): every VM Running or Paused
/// with its domain on its host, or Halted without one; no operation open; no reservation left; each host's free memory
/// exactly what its resident VMs imply.
/// </summary>
public static class Invariants
{
    public static async Task SettledAndConsistentAsync(Pool pool, IReadOnlyList<PoolVm> vms, string when)
    {
        foreach (var vm in vms)
        {
            await SettledAsync(pool, vm.Id, when);
        }

        await AssertConsistentAsync(pool, vms, when);
    }

    /// <summary>Waits (long-polling the read model) until the VM has no open operation.</summary>
    private static async Task SettledAsync(Pool pool, Guid vm, string when)
    {
        var record = await pool.VmRecordAsync(vm);
        for (var i = 0; i < 60 && record.GetProperty("currentOperations").EnumerateObject().Any(); i++)
        {
            record = await pool.GetAsync($"/api/vms/{vm}?minVersion={record.GetProperty("version").GetInt64() + 1}");
        }

        record.GetProperty("currentOperations").EnumerateObject().ShouldBeEmpty($"{when}: VM {vm} still has open operations: {record}");
    }

    public static async Task AssertConsistentAsync(Pool pool, IReadOnlyList<PoolVm> vms, string when)
    {
        var domains = new Dictionary<Guid, (Guid Host, JsonElement Domain)>();
        foreach (var host in pool.Hosts)
        {
            foreach (var d in (await pool.GetAsync($"/api/hosts/{host}/hypervisor/domains")).EnumerateArray())
            {
                domains.TryAdd(d.GetProperty("vm").GetGuid(), (host, d)).ShouldBeTrue($"{when}: two domains for VM {d.GetProperty("vm")}");
            }
        }

        foreach (var vm in vms)
        {
            var record = await pool.VmRecordAsync(vm.Id);
            switch (record.GetProperty("powerState").GetString())
            {
                case "Running" or "Paused":
                    domains.TryGetValue(vm.Id, out var found).ShouldBeTrue($"{when}: VM {vm.Id} is {record.GetProperty("powerState")} without a domain");
                    found.Host.ShouldBe(record.GetProperty("residentOn").GetGuid(), $"{when}: VM {vm.Id}'s domain is on another host");
                    found.Domain.GetProperty("domid").GetInt64().ShouldBe(record.GetProperty("domid").GetInt64(), $"{when}: VM {vm.Id}");
                    break;
                case "Halted":
                    domains.ShouldNotContainKey(vm.Id, $"{when}: VM {vm.Id} is Halted but has a domain");
                    record.GetProperty("residentOn").ValueKind.ShouldBe(JsonValueKind.Null);
                    break;
                case var other:
                    throw new ShouldAssertException($"{when}: VM {vm.Id} is {other}");
            }
        }

        await pool.AssertNoOvercommitAsync(when);
    }
}
