using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;
using Xapi.Cqrs.HostAgent.Hypervisor.Qemu;
using Xapi.Cqrs.Testing.Qemu;

namespace Xapi.Cqrs.Api.Tests.Qemu;

/// <summary>The service of <see cref="GuestBootTests"/> (a class fixture of its own).</summary>
public sealed class GuestBootServer : XapiServer;

/// <summary>
/// A real Linux guest (ops/guest-image: Debian's cloud kernel and a busybox initramfs) booted on a qemu host through the
/// API: its console shows it up, it reports the ACPI features, and the power operations it takes part in — its own
/// poweroff (followed per actions_after_shutdown), Ctrl-Alt-Del for a clean reboot and the ACPI power button of a clean
/// shutdown — end with no QEMU left.
/// One guest boots at a time (the collection runs one class at a time); every QEMU started is killed by pid in a finally.
/// </summary>
[Collection(QemuApiCollection.Name)]
public sealed class GuestBootTests(GuestBootServer server, ITestOutputHelper output) : IClassFixture<GuestBootServer>
{
    private static readonly TimeSpan Boot = TimeSpan.FromSeconds(90);
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    private async Task<JsonElement> PostOkAsync(HttpClient client, string path) =>
        await (await client.PostAsync(path, null, ct)).ShouldBeOkAsync();

    [Fact]
    public async Task A_guest_that_powers_itself_off_is_destroyed_per_actions_after_shutdown_leaving_no_qemu()
    {
        var started = new List<QemuDomainView>();
        using var client = server.Client();
        try
        {
            // Given a qemu host and a VM (actions_after_shutdown=destroy) whose boot disk boots the guest with xapi.poweroff=now
            var pool = await Pool.CreateAsync(client, ct);
            var host = await pool.QemuHostAsync(client);
            var vm = await pool.SmallVmAsync(await pool.GuestVdiAsync(client, GuestImage.PoweroffNow), actionsAfterShutdown: "destroy");

            // When it starts
            var clock = Stopwatch.StartNew();
            var running = await PostOkAsync(client, $"/api/vms/{vm.Id}/start");
            running.Power().ShouldBe("Running");
            var domain = await pool.DomainAsync(host, vm.Id);
            started.Add(domain);

            // Then the guest comes up on its serial console
            var up = await QemuGuests.ConsoleLineAsync(domain.ConsoleLog, GuestImage.UpMarker, Boot, ct);
            output.WriteLine($"{up} after {clock.Elapsed.TotalSeconds:0.0} s");

            // And, having powered itself off, the VM is Halted (a hard shutdown followed it) and its QEMU is gone
            var halted = await pool.PowerStateAsync(vm.Id, "Halted", Boot, ct);
            output.WriteLine($"Halted after {clock.Elapsed.TotalSeconds:0.0} s");
            halted.GetProperty("domid").GetInt64().ShouldBe(-1L);
            QemuProcess.IsOurs(domain.Pid, domain.MonitorSocket).ShouldBeFalse("no QEMU left after the guest's poweroff (at most a zombie)");
            (await pool.FindDomainAsync(host, vm.Id)).ShouldBeNull();
            GuestImage.ReadConsole(domain.ConsoleLog).ShouldContain("XAPI-GUEST-POWEROFF");

            // And its history shows the stop the guest made and the hard shutdown that followed it
            var stops = (await pool.GetAsync($"/api/vms/{vm.Id}/history?type=domain_stopped_by_itself")).EnumerateArray().ToList();
            var stop = stops.ShouldHaveSingleItem();
            output.WriteLine(stop.ToString());
            stop.ToString().ShouldContain("poweroff");
            stop.ToString().ShouldContain("destroy");
            await EventuallyNothingLeftAsync(pool);
        }
        finally
        {
            Kill(started);
        }
    }

    [Fact]
    public async Task A_booted_guest_reports_the_acpi_features_reboots_on_ctrl_alt_del_and_powers_off_on_the_power_button()
    {
        var started = new List<QemuDomainView>();
        using var client = server.Client();
        try
        {
            // Given a qemu host and a VM whose boot disk boots the guest, which then waits
            var pool = await Pool.CreateAsync(client, ct);
            var host = await pool.QemuHostAsync(client);
            var vm = await pool.SmallVmAsync(await pool.GuestVdiAsync(client));

            // When it starts
            var clock = Stopwatch.StartNew();
            var running = await PostOkAsync(client, $"/api/vms/{vm.Id}/start");
            var domain = await pool.DomainAsync(host, vm.Id);
            started.Add(domain);

            // Then its kernel has written to the console by the time the start answers, so the guest reports the ACPI
            // features and clean shutdown is offered
            running.Power().ShouldBe("Running");
            domain.PvDriversVersion.ShouldBe(QemuHost.AcpiGuest.PvDriversVersion);
            running.GetProperty("allowedOperations").EnumerateArray().Select(o => o.GetString()).ShouldContain("clean_shutdown");

            // And it comes up, with acpid listening for the power button
            var up = await QemuGuests.ConsoleLineAsync(domain.ConsoleLog, GuestImage.UpMarker, Boot, ct);
            await QemuGuests.ConsoleLineAsync(domain.ConsoleLog, GuestImage.ReadyMarker, Boot, ct);
            output.WriteLine($"{up}, ready after {clock.Elapsed.TotalSeconds:0.0} s");
            up.ShouldStartWith(GuestImage.UpMarker + "6."); // the kernel release

            // When it is rebooted cleanly
            clock.Restart();
            var rebooted = await PostOkAsync(client, $"/api/vms/{vm.Id}/clean-reboot");
            output.WriteLine($"clean reboot took {clock.Elapsed.TotalSeconds:0.0} s");

            // Then the guest restarted on Ctrl-Alt-Del and the VM runs in a new domain, a new QEMU, which boots the guest again
            rebooted.Power().ShouldBe("Running");
            var next = await pool.DomainAsync(host, vm.Id);
            started.Add(next);
            (next.Domid, next.Pid).ShouldNotBe((domain.Domid, domain.Pid));
            QemuProcess.IsOurs(domain.Pid, domain.MonitorSocket).ShouldBeFalse("the first QEMU is gone after the reboot");
            next.PvDriversVersion.ShouldBe(QemuHost.AcpiGuest.PvDriversVersion);

            // When it is shut down cleanly at once, while the guest is (most likely) still booting, acpid not listening yet
            var early = !GuestImage.ReadConsole(next.ConsoleLog).Contains(GuestImage.ReadyMarker, StringComparison.Ordinal);
            output.WriteLine(early ? "clean shutdown asked before the guest listened" : "clean shutdown asked once the guest listened");
            clock.Restart();
            var halted = await PostOkAsync(client, $"/api/vms/{vm.Id}/clean-shutdown");
            output.WriteLine($"clean shutdown took {clock.Elapsed.TotalSeconds:0.0} s");
            GuestImage.ReadConsole(next.ConsoleLog).ShouldContain(GuestImage.UpMarker, customMessage: "the guest could only power off once up (acpid starts after the marker)");

            // Then the power button, pressed again until the guest listened, powered it off: the VM is Halted and its QEMU is gone
            (halted.Power(), halted.GetProperty("domid").GetInt64()).ShouldBe(("Halted", -1L));
            QemuProcess.IsOurs(next.Pid, next.MonitorSocket).ShouldBeFalse("no QEMU left after the clean shutdown (at most a zombie)");
            (await pool.FindDomainAsync(host, vm.Id)).ShouldBeNull();
            (await pool.GetAsync($"/api/vms/{vm.Id}/history?type=domain_stopped_by_itself")).EnumerateArray().ShouldBeEmpty();
            await EventuallyNothingLeftAsync(pool);
        }
        finally
        {
            Kill(started);
        }
    }

    [Fact]
    public async Task A_guest_that_powers_itself_off_is_restarted_per_actions_after_shutdown_in_a_new_domain()
    {
        var started = new List<QemuDomainView>();
        using var client = server.Client();
        try
        {
            // Given a VM (actions_after_shutdown=restart) whose guest powers itself off once up
            var pool = await Pool.CreateAsync(client, ct);
            var host = await pool.QemuHostAsync(client);
            var vm = await pool.SmallVmAsync(await pool.GuestVdiAsync(client, GuestImage.PoweroffNow), actionsAfterShutdown: "restart");

            // When it starts and the guest powers off
            var clock = Stopwatch.StartNew();
            (await PostOkAsync(client, $"/api/vms/{vm.Id}/start")).Power().ShouldBe("Running");
            var first = await pool.DomainAsync(host, vm.Id);
            started.Add(first);
            await QemuGuests.ConsoleLineAsync(first.ConsoleLog, GuestImage.UpMarker, Boot, ct);

            // Then the VM runs again in a new domain: a new QEMU, the old one gone
            var second = await QemuGuests.EventuallyAsync(async () =>
            {
                // A domain being created shows pid 0 until its QEMU has daemonized
                var d = await pool.FindDomainAsync(host, vm.Id);
                if (d is not { Pid: > 0 } || d.Pid == first.Pid)
                {
                    return null;
                }

                if (!started.Exists(s => s.Pid == d.Pid))
                {
                    started.Add(d);
                }

                return d.Domid != first.Domid ? d : null;
            }, Boot, "a new domain of the VM after the guest's poweroff", ct);
            output.WriteLine($"restarted in domain {second.Domid} (pid {second.Pid}) after {clock.Elapsed.TotalSeconds:0.0} s");
            QemuProcess.IsOurs(first.Pid, first.MonitorSocket).ShouldBeFalse("the first QEMU is gone");
            (await pool.GetAsync($"/api/vms/{vm.Id}/history?type=domain_stopped_by_itself")).EnumerateArray().ShouldNotBeEmpty();

            // When it is hard shut down (it keeps restarting itself: an operation of the restart may be under way)
            var halted = await QemuGuests.EventuallyAsync<JsonElement?>(async () =>
            {
                var response = await client.PostAsync($"/api/vms/{vm.Id}/hard-shutdown", null, ct);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return await response.ShouldBeOkAsync();
                }

                var text = await response.Content.ReadAsStringAsync(ct);
                text.ShouldContain("OTHER_OPERATION_IN_PROGRESS", customMessage: "only a restart under way may refuse the hard shutdown");
                return null;
            }, Boot, "a hard shutdown of the restarting VM", ct);

            // Then it is Halted and no QEMU of it is left
            halted!.Value.Power().ShouldBe("Halted");
            (await pool.FindDomainAsync(host, vm.Id)).ShouldBeNull();
            foreach (var d in started)
            {
                QemuProcess.IsOurs(d.Pid, d.MonitorSocket).ShouldBeFalse($"QEMU {d.Pid} is gone");
            }

            await EventuallyNothingLeftAsync(pool);
        }
        finally
        {
            Kill(started);
        }
    }

    /// <summary>The follow-up operation of a guest's stop commits after the VM shows Halted in the same change: wait for it to close.</summary>
    private async Task EventuallyNothingLeftAsync(Pool pool)
    {
        await QemuGuests.EventuallyAsync(async () => (await pool.OpenOperationsAsync()).Count == 0 ? "" : null,
            TimeSpan.FromSeconds(30), "no open operation on the pool's objects", ct);
        await pool.AssertNothingLeftAsync();
    }

    private static void Kill(IEnumerable<QemuDomainView> domains)
    {
        foreach (var d in domains)
        {
            QemuProcess.Kill(d.Pid, d.MonitorSocket);
        }
    }
}
