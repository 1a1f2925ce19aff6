using System.Net;
using System.Net.Http.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Vms;

/// <summary>VM.hard_shutdown (API.md "VM lifecycle", XAPI.md §1.2, §1.7): the domain is destroyed and the VM moves to Halted, so it can go round again.</summary>
public sealed class HardShutdownTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Running_vm_hard_shutdown_halts_it_releases_everything_and_it_starts_again()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync(memoryTotal: 16 * Pool.GiB);
        var vm = await pool.VmAsync(new VmSpec { Vifs = 2 });
        var freeBefore = (await pool.HostRecordAsync(host)).GetProperty("memoryFree").GetInt64();

        for (var round = 0; round < 2; round++)
        {
            (await (await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start", new { }, ct)).ShouldBeOkAsync())
                .GetProperty("powerState").GetString().ShouldBe("Running");

            var halted = await (await client.PostAsync($"/api/vms/{vm.Id}/hard-shutdown", null, ct)).ShouldBeOkAsync();

            halted.GetProperty("powerState").GetString().ShouldBe("Halted", $"round {round}");
            halted.GetProperty("domid").GetInt64().ShouldBe(-1);
            halted.GetProperty("residentOn").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
            halted.GetProperty("currentOperations").EnumerateObject().ShouldBeEmpty();
            foreach (var vbd in vm.Vbds)
            {
                (await pool.GetAsync($"/api/vbds/{vbd}")).GetProperty("currentlyAttached").GetBoolean().ShouldBeFalse();
            }

            foreach (var vif in vm.Vifs)
            {
                (await pool.GetAsync($"/api/vifs/{vif}")).GetProperty("currentlyAttached").GetBoolean().ShouldBeFalse();
            }

            var hostAfter = await pool.HostRecordAsync(host);
            hostAfter.GetProperty("memoryFree").GetInt64().ShouldBe(freeBefore, $"round {round}: the VM's memory is released");
            hostAfter.GetProperty("residentVms").EnumerateArray().ShouldBeEmpty();
            (await pool.GetAsync($"/api/hosts/{host}/hypervisor/domains")).EnumerateArray()
                .ShouldNotContain(d => d.GetProperty("vm").GetGuid() == vm.Id);
            await pool.AssertNothingLeftAsync();
        }

        var messages = (await pool.GetAsync($"/api/messages?obj={vm.Id}")).EnumerateArray().Select(m => m.GetProperty("name").GetString()).ToList();
        messages.Count(n => n == "VM_SHUTDOWN").ShouldBe(2);
        messages.Count(n => n == "VM_STARTED").ShouldBe(2);
    }

    [Fact]
    public async Task Halted_vm_hard_shutdown_fails_with_bad_power_state_and_writes_nothing()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        await pool.HostAsync();
        var vm = await pool.VmAsync();
        var version = (await pool.VmRecordAsync(vm.Id)).GetProperty("version").GetInt64();

        var response = await client.PostAsync($"/api/vms/{vm.Id}/hard-shutdown", null, ct);

        var problem = await response.ShouldBeProblemWithCode(HttpStatusCode.Conflict, "VM_BAD_POWER_STATE");
        problem.Params()[0].ShouldBe(vm.Id.ToString());
        (await pool.VmRecordAsync(vm.Id)).GetProperty("version").GetInt64().ShouldBe(version);
        await pool.AssertNothingLeftAsync();
    }
}
