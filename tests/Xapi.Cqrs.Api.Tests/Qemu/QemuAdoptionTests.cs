using System.Diagnostics;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;
using Xapi.Cqrs.HostAgent.Hypervisor.Qemu;
using Xapi.Cqrs.Testing.Qemu;

namespace Xapi.Cqrs.Api.Tests.Qemu;

/// <summary>The service of <see cref="QemuAdoptionTests"/>, restarted by them (a class fixture of its own, so no other class sees it).</summary>
public sealed class QemuAdoptionServer : XapiServer;

/// <summary>
/// A restarted service adopts the QEMU processes its qemu hosts left running (xenopsd's resync): the VMs keep their
/// domains (same domid, same process, still running), and the power operations work on the adopted domains — QMP
/// commands and the QMP events that end a clean shutdown alike. Every QEMU started is killed by pid in a finally.
/// </summary>
[Collection(QemuApiCollection.Name)]
public sealed class QemuAdoptionTests(QemuAdoptionServer server, ITestOutputHelper output) : IClassFixture<QemuAdoptionServer>
{
    private static readonly TimeSpan Boot = TimeSpan.FromSeconds(90);
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Qemu_domains_survive_a_service_restart_and_their_power_operations_still_work()
    {
        var started = new List<QemuDomainView>();
        try
        {
            // Given a qemu host running a booted guest and a firmware-only VM
            Guid host;
            PoolVm guest, firmware;
            JsonElement[] before;
            using (var client = server.Client())
            {
                var pool = await Pool.CreateAsync(client, ct);
                host = await pool.QemuHostAsync(client);
                guest = await pool.SmallVmAsync(await pool.GuestVdiAsync(client));
                firmware = await pool.SmallVmAsync();
                foreach (var vm in new[] { guest, firmware })
                {
                    (await (await client.PostAsync($"/api/vms/{vm.Id}/start", null, ct)).ShouldBeOkAsync()).Power().ShouldBe("Running");
                    started.Add(await pool.DomainAsync(host, vm.Id));
                }

                await QemuGuests.ConsoleLineAsync(started[0].ConsoleLog, GuestImage.ReadyMarker, Boot, ct);
                before = [await pool.VmRecordAsync(guest.Id), await pool.VmRecordAsync(firmware.Id)];
            }

            // When the service restarts
            var clock = Stopwatch.StartNew();
            await server.RestartAsync();
            output.WriteLine($"restarted in {clock.Elapsed.TotalSeconds:0.0} s");

            using var after = server.Client();
            var again = await Pool.CreateAsync(after, ct);
            for (var i = 0; i < 2; i++)
            {
                var (vm, was, domain) = (before[i].GetProperty("id").GetGuid(), before[i], started[i]);

                // Then each VM is still Running on its host in the same domain, whose QEMU is the same process, still ours and running
                var now = await again.VmRecordAsync(vm);
                (now.Power(), now.GetProperty("residentOn").GetGuid(), now.GetProperty("domid").GetInt64())
                    .ShouldBe(("Running", host, was.GetProperty("domid").GetInt64()), "the qemu host adopted the domain");
                var adopted = await again.DomainAsync(host, vm);
                (adopted.Domid, adopted.Pid, adopted.MonitorSocket).ShouldBe((domain.Domid, domain.Pid, domain.MonitorSocket));
                QemuProcess.IsOurs(adopted.Pid, adopted.MonitorSocket).ShouldBeTrue();
                (await QemuGuests.QmpStatusAsync(adopted.MonitorSocket, ct)).ShouldBe("running");
                adopted.PvDriversVersion.ShouldBe(i == 0 ? QemuHost.AcpiGuest.PvDriversVersion : null, "only the booted guest reports the ACPI features");
            }

            // When the firmware-only VM is paused and unpaused through the API: the adopted QEMU follows
            var (fw, fwDomain) = (firmware.Id, started[1]);
            (await (await after.PostAsync($"/api/vms/{fw}/pause", null, ct)).ShouldBeOkAsync()).Power().ShouldBe("Paused");
            (await QemuGuests.QmpStatusAsync(fwDomain.MonitorSocket, ct)).ShouldBe("paused");
            (await (await after.PostAsync($"/api/vms/{fw}/unpause", null, ct)).ShouldBeOkAsync()).Power().ShouldBe("Running");
            (await QemuGuests.QmpStatusAsync(fwDomain.MonitorSocket, ct)).ShouldBe("running");

            // And hard shut down: it is Halted and its QEMU is gone
            (await (await after.PostAsync($"/api/vms/{fw}/hard-shutdown", null, ct)).ShouldBeOkAsync()).Power().ShouldBe("Halted");
            QemuProcess.IsOurs(fwDomain.Pid, fwDomain.MonitorSocket).ShouldBeFalse("no QEMU left after the hard shutdown (at most a zombie)");

            // When the booted guest is shut down cleanly: the power button, and the guest's SHUTDOWN event on the adopted QMP connection
            clock.Restart();
            var halted = await (await after.PostAsync($"/api/vms/{guest.Id}/clean-shutdown", null, ct)).ShouldBeOkAsync();
            output.WriteLine($"clean shutdown of the adopted guest took {clock.Elapsed.TotalSeconds:0.0} s");

            // Then it is Halted, the host lists no domain, and no QEMU is left
            halted.Power().ShouldBe("Halted");
            QemuProcess.IsOurs(started[0].Pid, started[0].MonitorSocket).ShouldBeFalse("no QEMU left after the clean shutdown (at most a zombie)");
            (await again.GetAsync($"/api/hosts/{host}/hypervisor/domains")).EnumerateArray().ShouldBeEmpty();
        }
        finally
        {
            foreach (var d in started)
            {
                QemuProcess.Kill(d.Pid, d.MonitorSocket);
            }
        }
    }
}
