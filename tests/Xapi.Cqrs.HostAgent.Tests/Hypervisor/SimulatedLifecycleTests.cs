using Shouldly;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.HostAgent.Hypervisor;
using Xapi.Cqrs.HostAgent.Hypervisor.Simulated;
using Xunit;
using static Xapi.Cqrs.HostAgent.Tests.Hypervisor.Sim;

namespace Xapi.Cqrs.HostAgent.Tests.Hypervisor;

/// <summary>The simulated host after start: pause, hot-plug and unplug, clean shutdown, guests that stop by themselves, PV drivers.</summary>
public sealed class SimulatedLifecycleTests
{
    // ---------------------------------------------------------------- pause

    [Fact]
    public async Task Pause_stops_a_running_domain_and_unpause_resumes_it()
    {
        using var host = Host();
        var spec = Hvm();
        await StartAsync(host, spec);

        await host.PauseAsync(spec.VmId, Ct);
        host.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Paused);
        await host.PauseAsync(spec.VmId, Ct); // a paused domain stays paused
        host.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Paused);

        await host.UnpauseAsync(spec.VmId, Ct);
        host.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Running);
    }

    [Fact]
    public async Task Pause_of_a_domain_not_built_fails_domain_not_built()
    {
        using var host = Host();
        var hvm = Hvm();
        await host.CreateDomainAsync(hvm, Ct);

        var unbuilt = await Should.ThrowAsync<HypervisorException>(() => host.PauseAsync(hvm.VmId, Ct));
        await host.BuildDomainAsync(hvm.VmId, Ct);
        var noQemu = await Should.ThrowAsync<HypervisorException>(() => host.PauseAsync(hvm.VmId, Ct));

        unbuilt.Code.ShouldBe(ErrorCodes.InternalError);
        unbuilt.Params[0].ShouldStartWith("Domain_not_built");
        noQemu.Params[0].ShouldContain("no device model");
        (await Should.ThrowAsync<HypervisorException>(() => host.PauseAsync(Guid.NewGuid(), Ct))).Params[0].ShouldStartWith("Does_not_exist");
    }

    [Fact]
    public async Task Fault_at_pause_fails_once_and_leaves_the_domain_running()
    {
        using var host = Host();
        var spec = Pv();
        await StartAsync(host, spec);
        host.AddFault(new HypervisorFault(HypervisorStep.Pause, Error: ErrorCodes.InternalError));

        var ex = await Should.ThrowAsync<HypervisorException>(() => host.PauseAsync(spec.VmId, Ct));

        ex.Params[0].ShouldContain("injected fault at pause");
        host.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Running);
        await host.PauseAsync(spec.VmId, Ct);
        host.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Paused);
    }

    // ---------------------------------------------------------------- hot-plug, unplug

    [Fact]
    public async Task Vbd_and_vif_hot_plug_into_a_running_domain_like_at_build()
    {
        using var host = Host();
        var spec = Hvm();
        await StartAsync(host, spec);
        var (disk, nic) = (Guid.NewGuid(), Guid.NewGuid());

        var vbd = await host.PlugVbdAsync(spec.VmId, Disk(disk, 5, VbdMode.RW), Ct);
        var vif = await host.PlugVifAsync(spec.VmId, Nic(nic, 1), Ct);

        (vbd.Device, vbd.Devid).ShouldBe(("xvdf", 51792));
        (vif.Device, vif.Devid).ShouldBe(("1", 1));
        var domain = host.FindDomain(spec.VmId)!;
        domain.State.ShouldBe(DomainStates.Running);
        domain.Vbds.ShouldContain(disk);
        domain.Vifs.Last().ShouldBe(nic);
        host.ReadXenstore("/local/domain/0/backend/vbd/1/51792/hotplug-status")!.Value.ShouldBe("connected");
        host.ReadXenstore("/local/domain/1/device/vif/1/state")!.Value.ShouldBe("4");
        host.ReadXenstore($"/xapi/{spec.VmId}/hotplug/1/vif/1/hotplug")!.Value.ShouldBe("online");
    }

    [Fact]
    public async Task Clean_unplug_closes_the_backend_waits_for_the_guest_frontend_then_removes_what_the_plug_wrote()
    {
        var clock = new ManualClock();
        using var host = Host(clock);
        var spec = Hvm();
        var (disk, cd, _) = await StartAsync(host, spec);
        host.HotplugDelay = TimeSpan.FromMilliseconds(50);

        var unplug = host.UnplugVbdAsync(spec.VmId, disk, Ct);

        host.ReadXenstore("/local/domain/0/backend/vbd/1/768/online")!.Value.ShouldBe("0");
        host.ReadXenstore("/local/domain/0/backend/vbd/1/768/state")!.Value.ShouldBe("5"); // Closing
        unplug.IsCompleted.ShouldBeFalse();
        host.FindDomain(spec.VmId)!.Vbds.ShouldContain(disk);

        clock.Advance(TimeSpan.FromMilliseconds(50)); // the guest's frontend closes
        await unplug.Within();

        foreach (var path in new[]
        {
            "/local/domain/1/device/vbd/768", "/local/domain/0/backend/vbd/1/768", "/xenops/domain/1/device/vbd/768",
            $"/xapi/{spec.VmId}/private/vbd/768", $"/xapi/{spec.VmId}/hotplug/1/vbd/768", $"/vm/{spec.VmId}/devices/vbd/768",
        })
        {
            host.ReadXenstore(path).ShouldBeNull(path);
        }

        host.FindDomain(spec.VmId)!.Vbds.ShouldBe([cd]);
        host.ReadXenstore("/local/domain/0/backend/vbd/1/5696/hotplug-status")!.Value.ShouldBe("connected"); // the other disk stays
    }

    [Fact]
    public async Task Vif_unplug_of_a_running_guest_removes_its_entries_and_the_domain_keeps_the_others()
    {
        using var host = Host();
        var spec = Pv();
        var (_, _, nic) = await StartAsync(host, spec);
        var second = Guid.NewGuid();
        await host.PlugVifAsync(spec.VmId, Nic(second, 1), Ct);

        await host.UnplugVifAsync(spec.VmId, nic, Ct);

        host.FindDomain(spec.VmId)!.Vifs.ShouldBe([second]);
        host.ReadXenstore("/local/domain/1/device/vif")!.Children.Select(c => c.Name).ShouldBe(["1"]);
        host.ReadXenstore("/local/domain/0/backend/vif/1/0").ShouldBeNull();
        host.ReadXenstore($"/xapi/{spec.VmId}/private/vif/0").ShouldBeNull();
        host.ReadXenstore($"/xapi/{spec.VmId}/hotplug/1/vif/0").ShouldBeNull();
        host.ReadXenstore($"/vm/{spec.VmId}/devices/vif/0").ShouldBeNull();
    }

    [Fact]
    public async Task Unplug_from_a_paused_domain_is_forced_and_immediate()
    {
        var clock = new ManualClock();
        using var host = Host(clock);
        var spec = Hvm();
        var (disk, _, nic) = await StartAsync(host, spec);
        await host.PauseAsync(spec.VmId, Ct);
        host.HotplugDelay = TimeSpan.FromHours(1); // a clean unplug would wait for the guest

        await host.UnplugVbdAsync(spec.VmId, disk, Ct).Within();
        await host.UnplugVifAsync(spec.VmId, nic, Ct).Within();

        host.FindDomain(spec.VmId)!.Vbds.ShouldNotContain(disk);
        host.FindDomain(spec.VmId)!.Vifs.ShouldBeEmpty();
        host.ReadXenstore("/local/domain/0/backend/vbd/1/768").ShouldBeNull();
        host.ReadXenstore("/local/domain/1/device/vif/0").ShouldBeNull();
    }

    [Fact]
    public async Task Unplug_of_an_unknown_or_already_unplugged_device_does_nothing_and_takes_no_fault()
    {
        using var host = Host();
        var spec = Hvm();
        var (disk, _, nic) = await StartAsync(host, spec);
        host.AddFault(new HypervisorFault(HypervisorStep.VbdUnplug, Error: "SR_BACKEND_FAILURE_47"));
        host.AddFault(new HypervisorFault(HypervisorStep.VifUnplug));

        await host.UnplugVbdAsync(spec.VmId, Guid.NewGuid(), Ct);
        await host.UnplugVifAsync(spec.VmId, Guid.NewGuid(), Ct);
        await host.UnplugVbdAsync(Guid.NewGuid(), disk, Ct); // no such domain: nothing plugged
        host.Faults.Count.ShouldBe(2);

        var vbd = await Should.ThrowAsync<HypervisorException>(() => host.UnplugVbdAsync(spec.VmId, disk, Ct));
        var vif = await Should.ThrowAsync<HypervisorException>(() => host.UnplugVifAsync(spec.VmId, nic, Ct));
        vbd.Code.ShouldBe("SR_BACKEND_FAILURE_47");
        vif.Params[0].ShouldContain("vif_unplug");
        host.FindDomain(spec.VmId)!.Vbds.ShouldContain(disk); // a failed unplug leaves the device
        host.FindDomain(spec.VmId)!.Vifs.ShouldBe([nic]);

        await host.UnplugVbdAsync(spec.VmId, disk, Ct);
        await host.UnplugVbdAsync(spec.VmId, disk, Ct);
        host.FindDomain(spec.VmId)!.Vbds.ShouldNotContain(disk);
    }

    [Fact]
    public async Task Clean_unplug_whose_frontend_never_closes_fails_after_the_timeout_and_the_device_stays()
    {
        var clock = new ManualClock();
        using var host = Host(clock);
        var spec = Hvm();
        var (disk, _, _) = await StartAsync(host, spec);
        host.HotplugDelay = TimeSpan.FromSeconds(1);
        host.HotplugTimeout = TimeSpan.FromSeconds(30);

        var unplug = host.UnplugVbdAsync(spec.VmId, disk, Ct);
        await host.PauseAsync(spec.VmId, Ct); // the guest stops before its frontend closes
        clock.Advance(TimeSpan.FromSeconds(30));

        var ex = await Should.ThrowAsync<HypervisorException>(unplug.Within());
        ex.Code.ShouldBe(ErrorCodes.InternalError);
        ex.Params[0].ShouldStartWith("Device_detach_rejected");
        host.FindDomain(spec.VmId)!.Vbds.ShouldContain(disk);
        host.ReadXenstore("/local/domain/0/backend/vbd/1/768/online")!.Value.ShouldBe("1");
        host.ReadXenstore("/local/domain/0/backend/vbd/1/768/state")!.Value.ShouldBe("4");
    }

    [Fact]
    public async Task Hvm_disks_take_ide_numbers_for_their_first_four_positions_and_pv_disks_xvd_numbers()
    {
        using var host = Host();
        var hvm = Hvm();
        var pv = Pv();
        await host.CreateDomainAsync(hvm, Ct);
        await host.CreateDomainAsync(pv, Ct);

        var hvmDisks = new List<PlugInfo>();
        foreach (var position in new[] { 0, 1, 2, 3, 4, 16 })
        {
            hvmDisks.Add(await host.PlugVbdAsync(hvm.VmId, Disk(Guid.NewGuid(), position, VbdMode.RW), Ct));
        }

        var pv0 = await host.PlugVbdAsync(pv.VmId, Disk(Guid.NewGuid(), 0, VbdMode.RW), Ct);
        var pv3 = await host.PlugVbdAsync(pv.VmId, Disk(Guid.NewGuid(), 3, VbdMode.RW), Ct);

        hvmDisks.Select(p => (p.Device, p.Devid)).ShouldBe(
            [("hda", 768), ("hdb", 832), ("hdc", 5632), ("hdd", 5696), ("xvde", 51776), ("xvdq", (1 << 28) | (16 << 8))]);
        (pv0.Device, pv0.Devid).ShouldBe(("xvda", 51712));
        (pv3.Device, pv3.Devid).ShouldBe(("xvdd", 51760));
        host.ReadXenstore("/local/domain/1/device/vbd/5632/virtual-device")!.Value.ShouldBe("5632");
        host.ReadXenstore("/local/domain/0/backend/vbd/1/832/dev")!.Value.ShouldBe("hdb");
        host.ReadXenstore("/local/domain/0/backend/vbd/2/51712/dev")!.Value.ShouldBe("xvda");
    }

    // ---------------------------------------------------------------- clean shutdown

    [Theory]
    [InlineData(ShutdownReason.Poweroff, "poweroff")]
    [InlineData(ShutdownReason.Reboot, "reboot")]
    public async Task Shutdown_writes_control_shutdown_and_the_guest_shuts_down_after_its_delay(ShutdownReason reason, string wire)
    {
        var clock = new ManualClock();
        using var host = Host(clock);
        var spec = Hvm();
        await StartAsync(host, spec);
        var reserved = host.FindDomain(spec.VmId)!.MemoryReserved;
        var free = host.MemoryFree;
        var stopped = 0;
        host.DomainStopped += (_, _) => Interlocked.Increment(ref stopped);

        var shutdown = host.ShutdownAsync(spec.VmId, reason, TimeSpan.FromSeconds(60), Ct);

        host.ReadXenstore("/local/domain/1/control/shutdown")!.Value.ShouldBe(wire);
        clock.Advance(SimulatedXenHost.DefaultGuestShutdownDelay - TimeSpan.FromMilliseconds(1));
        shutdown.IsCompleted.ShouldBeFalse();
        host.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Running);

        clock.Advance(TimeSpan.FromMilliseconds(1));
        (await shutdown.Within()).ShouldBeTrue();

        var domain = host.FindDomain(spec.VmId)!;
        domain.State.ShouldBe(DomainStates.Shutdown);
        domain.ShutdownReason.ShouldBe(reason);
        host.ReadXenstore("/local/domain/1/control/shutdown").ShouldBeNull(); // the guest cleared it
        domain.MemoryReserved.ShouldBe(reserved); // held until destroyed, as on Xen
        host.MemoryFree.ShouldBe(free);
        stopped.ShouldBe(0); // asked for: no DomainStopped
        host.ListDomains().Single().State.ShouldBe(DomainStates.Shutdown);

        (await host.ShutdownAsync(spec.VmId, ShutdownReason.Poweroff, TimeSpan.Zero, Ct)).ShouldBeTrue(); // already shut down
        await host.UnpauseAsync(spec.VmId, Ct); // stays shut down
        host.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Shutdown);
        await host.DestroyDomainAsync(spec.VmId, Ct);
        host.MemoryFree.ShouldBe(free + reserved);
    }

    [Fact]
    public async Task Shutdown_ignored_by_the_guest_answers_false_at_the_timeout_and_withdraws_the_request()
    {
        var clock = new ManualClock();
        using var host = Host(clock);
        var spec = Hvm() with { IgnoreShutdown = true };
        await StartAsync(host, spec);

        var shutdown = host.ShutdownAsync(spec.VmId, ShutdownReason.Poweroff, TimeSpan.FromSeconds(5), Ct);
        clock.Advance(TimeSpan.FromSeconds(4));
        shutdown.IsCompleted.ShouldBeFalse();
        host.ReadXenstore("/local/domain/1/control/shutdown")!.Value.ShouldBe("poweroff");
        clock.Advance(TimeSpan.FromSeconds(1));

        (await shutdown.Within()).ShouldBeFalse();
        host.ReadXenstore("/local/domain/1/control/shutdown").ShouldBeNull();
        host.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Running);
    }

    [Fact]
    public async Task Shutdown_of_a_guest_without_pv_drivers_is_never_answered()
    {
        var clock = new ManualClock();
        using var host = Host(clock);
        var spec = Hvm() with { PvDrivers = false };
        await StartAsync(host, spec);

        var shutdown = host.ShutdownAsync(spec.VmId, ShutdownReason.Reboot, TimeSpan.FromSeconds(2), Ct);
        clock.Advance(TimeSpan.FromSeconds(2));

        (await shutdown.Within()).ShouldBeFalse();
        host.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Running);
        host.ReadXenstore("/local/domain/1/control/shutdown").ShouldBeNull();
    }

    [Fact]
    public async Task Shutdown_cancelled_throws_and_withdraws_the_request()
    {
        var clock = new ManualClock();
        using var host = Host(clock);
        var spec = Hvm() with { IgnoreShutdown = true };
        await StartAsync(host, spec);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var shutdown = host.ShutdownAsync(spec.VmId, ShutdownReason.Poweroff, Timeout.InfiniteTimeSpan, cts.Token);
        host.ReadXenstore("/local/domain/1/control/shutdown").ShouldNotBeNull();
        await cts.CancelAsync();

        await Should.ThrowAsync<OperationCanceledException>(shutdown.Within());
        host.ReadXenstore("/local/domain/1/control/shutdown").ShouldBeNull();
        host.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Running);
    }

    [Fact]
    public async Task Shutdown_of_a_paused_guest_is_answered_once_it_is_unpaused()
    {
        var clock = new ManualClock();
        using var host = Host(clock);
        var spec = Pv();
        await StartAsync(host, spec);
        await host.PauseAsync(spec.VmId, Ct);

        var shutdown = host.ShutdownAsync(spec.VmId, ShutdownReason.Poweroff, TimeSpan.FromSeconds(10), Ct);
        clock.Advance(TimeSpan.FromSeconds(1));
        shutdown.IsCompleted.ShouldBeFalse();
        host.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Paused);

        await host.UnpauseAsync(spec.VmId, Ct);
        clock.Advance(SimulatedXenHost.DefaultGuestShutdownDelay);

        (await shutdown.Within()).ShouldBeTrue();
        host.FindDomain(spec.VmId)!.ShutdownReason.ShouldBe(ShutdownReason.Poweroff);
    }

    [Fact]
    public async Task Two_requests_wait_together_and_the_guest_acts_on_the_last_one_written()
    {
        var clock = new ManualClock();
        using var host = Host(clock);
        var spec = Hvm();
        await StartAsync(host, spec);

        var first = host.ShutdownAsync(spec.VmId, ShutdownReason.Poweroff, TimeSpan.FromSeconds(10), Ct);
        var second = host.ShutdownAsync(spec.VmId, ShutdownReason.Reboot, TimeSpan.FromSeconds(10), Ct);
        clock.Advance(SimulatedXenHost.DefaultGuestShutdownDelay);

        (await first.Within()).ShouldBeTrue();
        (await second.Within()).ShouldBeTrue();
        host.FindDomain(spec.VmId)!.ShutdownReason.ShouldBe(ShutdownReason.Reboot);
    }

    [Fact]
    public async Task Fault_at_shutdown_fails_before_anything_is_written()
    {
        using var host = Host();
        var spec = Hvm();
        await StartAsync(host, spec);
        host.AddFault(new HypervisorFault(HypervisorStep.Shutdown, Error: ErrorCodes.InternalError));

        var ex = await Should.ThrowAsync<HypervisorException>(() => host.ShutdownAsync(spec.VmId, ShutdownReason.Poweroff, TimeSpan.FromSeconds(1), Ct));

        ex.Params[0].ShouldContain("injected fault at shutdown");
        host.ReadXenstore("/local/domain/1/control/shutdown").ShouldBeNull();
        host.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Running);
    }

    [Fact]
    public async Task Shutdown_refuses_crash_negative_timeouts_and_unknown_vms()
    {
        using var host = Host();
        var spec = Hvm();
        await StartAsync(host, spec);

        await Should.ThrowAsync<ArgumentOutOfRangeException>(() => host.ShutdownAsync(spec.VmId, ShutdownReason.Crash, TimeSpan.FromSeconds(1), Ct));
        await Should.ThrowAsync<ArgumentOutOfRangeException>(() => host.ShutdownAsync(spec.VmId, ShutdownReason.Poweroff, TimeSpan.FromSeconds(-1), Ct));
        (await Should.ThrowAsync<HypervisorException>(() => host.ShutdownAsync(Guid.NewGuid(), ShutdownReason.Poweroff, TimeSpan.FromSeconds(1), Ct)))
            .Params[0].ShouldStartWith("Does_not_exist");
    }

    [Fact]
    public async Task Destroy_while_a_shutdown_is_pending_fails_the_request()
    {
        using var host = Host();
        var spec = Hvm() with { IgnoreShutdown = true };
        await StartAsync(host, spec);
        var shutdown = host.ShutdownAsync(spec.VmId, ShutdownReason.Poweroff, Timeout.InfiniteTimeSpan, Ct);

        await host.DestroyDomainAsync(spec.VmId, Ct);

        (await Should.ThrowAsync<HypervisorException>(shutdown.Within())).Params[0].ShouldStartWith("Does_not_exist");
    }

    // ---------------------------------------------------------------- guests that stop by themselves

    [Theory]
    [InlineData(ShutdownReason.Poweroff)]
    [InlineData(ShutdownReason.Reboot)]
    [InlineData(ShutdownReason.Crash)]
    public async Task A_guest_that_stops_by_itself_shuts_its_domain_down_and_raises_domain_stopped_once(ShutdownReason reason)
    {
        var clock = new ManualClock();
        using var host = Host(clock);
        var spec = Hvm();
        await StartAsync(host, spec);
        var events = new List<DomainStopped>();
        host.DomainStopped += (sender, e) =>
        {
            sender.ShouldBeSameAs(host);
            // raised outside the host's lock: another thread can read the host meanwhile
            Task.Run(() => host.FindDomain(spec.VmId)).Wait(Bound).ShouldBeTrue();
            events.Add(e);
        };

        var info = host.GuestShutdown(1, reason);
        var again = host.GuestShutdown(1, ShutdownReason.Crash);

        info.State.ShouldBe(DomainStates.Shutdown);
        info.ShutdownReason.ShouldBe(reason);
        again.ShutdownReason.ShouldBe(reason); // already shut down: unchanged
        events.ShouldBe([new DomainStopped(spec.VmId, 1, reason, clock.GetUtcNow())]);
        host.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Shutdown);
        host.FindDomain(spec.VmId)!.MemoryReserved.ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task A_guest_stopping_by_itself_answers_a_pending_clean_shutdown()
    {
        using var host = Host();
        var spec = Hvm() with { IgnoreShutdown = true };
        await StartAsync(host, spec);
        var shutdown = host.ShutdownAsync(spec.VmId, ShutdownReason.Poweroff, Timeout.InfiniteTimeSpan, Ct);

        host.GuestShutdown(1, ShutdownReason.Crash);

        (await shutdown.Within()).ShouldBeTrue();
        host.FindDomain(spec.VmId)!.ShutdownReason.ShouldBe(ShutdownReason.Crash);
        host.ReadXenstore("/local/domain/1/control/shutdown").ShouldBeNull();
    }

    [Fact]
    public async Task Guest_shutdown_of_an_unknown_domid_fails_handle_invalid_and_a_throwing_handler_is_ignored()
    {
        using var host = Host();
        var spec = Pv();
        await StartAsync(host, spec);
        host.DomainStopped += (_, _) => throw new InvalidOperationException("handler bug");
        var later = 0;
        host.DomainStopped += (_, _) => later++;

        var ex = Should.Throw<HypervisorException>(() => host.GuestShutdown(7, ShutdownReason.Poweroff));
        host.GuestShutdown(1, ShutdownReason.Poweroff).State.ShouldBe(DomainStates.Shutdown);

        ex.Code.ShouldBe(ErrorCodes.HandleInvalid);
        ex.Params.ShouldBe(["domain", "7"]);
        later.ShouldBe(1);
    }

    [Fact]
    public async Task Devices_cannot_be_plugged_into_a_domain_that_has_shut_down()
    {
        using var host = Host();
        var spec = Hvm();
        await StartAsync(host, spec);
        host.GuestShutdown(1, ShutdownReason.Poweroff);

        var ex = await Should.ThrowAsync<HypervisorException>(() => host.PlugVifAsync(spec.VmId, Nic(Guid.NewGuid(), 4), Ct));

        ex.Params[0].ShouldStartWith("Bad_power_state");
        host.ReadXenstore("/local/domain/1/device/vif/4").ShouldBeNull();
    }

    // ---------------------------------------------------------------- PV drivers

    [Fact]
    public async Task A_guest_with_pv_drivers_announces_its_features_and_version_when_first_unpaused()
    {
        using var host = Host();
        var spec = Hvm();
        await host.CreateDomainAsync(spec, Ct);
        await host.BuildDomainAsync(spec.VmId, Ct);
        await host.CreateDeviceModelAsync(spec.VmId, Ct);
        host.FindDomain(spec.VmId)!.Guest.ShouldBeNull();
        host.ReadXenstore("/local/domain/1/control/feature-shutdown").ShouldBeNull();

        await host.UnpauseAsync(spec.VmId, Ct);

        var dom = host.ReadXenstore("/local/domain/1")!;
        dom.ValueAt("control/feature-shutdown").ShouldBe("1");
        dom.ValueAt("control/feature-reboot").ShouldBe("1");
        dom.ValueAt("control/feature-poweroff").ShouldBe("1");
        dom.ValueAt("attr/PVAddons/MajorVersion").ShouldBe("9");
        dom.ValueAt("attr/PVAddons/MinorVersion").ShouldBe("4");
        dom.ValueAt("attr/PVAddons/MicroVersion").ShouldBe("0");
        dom.ValueAt("attr/PVAddons/BuildVersion").ShouldBe("146");
        var guest = host.FindDomain(spec.VmId)!.Guest!;
        guest.PvDriversVersion.ShouldBe(SimulatedXenHost.PvDriversVersion);
        guest.Features.ShouldBe(["feature-shutdown", "feature-reboot", "feature-poweroff"]);
        dom.ValueAt("control/platform-feature-multiprocessor-suspend").ShouldBe("1"); // the toolstack's, not a guest feature

        host.Xenstore.Write("/local/domain/1/control/feature-reboot", "0"); // a guest may withdraw one
        host.FindDomain(spec.VmId)!.Guest!.Features.ShouldBe(["feature-shutdown", "feature-poweroff"]);
    }

    [Fact]
    public async Task A_guest_without_pv_drivers_writes_nothing_and_reports_no_guest()
    {
        using var host = Host();
        var spec = Hvm() with { PvDrivers = false };
        await StartAsync(host, spec);

        host.FindDomain(spec.VmId)!.Guest.ShouldBeNull();
        host.ReadXenstore("/local/domain/1/control/feature-shutdown").ShouldBeNull();
        host.ReadXenstore("/local/domain/1/attr/PVAddons").ShouldBeNull();
    }

    [Fact]
    public void Vm_other_config_selects_pv_drivers_and_ignore_shutdown()
    {
        var vm = new Vm { Id = Guid.NewGuid(), DomainType = DomainType.Hvm, VcpusMax = 1, VcpusAtStartup = 1, MemoryStaticMax = GiB, MemoryDynamicMin = GiB, MemoryDynamicMax = GiB };

        var plain = DomainSpec.FromVm(vm);
        var odd = DomainSpec.FromVm(vm with
        {
            OtherConfig = System.Collections.Immutable.ImmutableDictionary<string, string>.Empty
                .Add("simulator.pv_drivers", "false").Add("simulator.ignore_shutdown", "true"),
        });

        (plain.PvDrivers, plain.IgnoreShutdown).ShouldBe((true, false));
        (odd.PvDrivers, odd.IgnoreShutdown).ShouldBe((false, true));
    }

    // ---------------------------------------------------------------- destroy

    [Fact]
    public async Task Fault_at_destroy_leaves_the_domain_and_a_destroy_of_nothing_takes_no_fault()
    {
        using var host = Host();
        var spec = Hvm();
        await StartAsync(host, spec);
        var free = host.MemoryFree;
        host.AddFault(new HypervisorFault(HypervisorStep.Destroy, Error: ErrorCodes.InternalError));

        await host.DestroyDomainAsync(Guid.NewGuid(), Ct);
        host.Faults.Count.ShouldBe(1);
        var ex = await Should.ThrowAsync<HypervisorException>(() => host.DestroyDomainAsync(spec.VmId, Ct));

        ex.Params[0].ShouldContain("injected fault at destroy");
        host.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Running);
        host.ReadXenstore("/local/domain/1/domid")!.Value.ShouldBe("1");
        host.MemoryFree.ShouldBe(free);
        await host.DestroyDomainAsync(spec.VmId, Ct);
        host.FindDomain(spec.VmId).ShouldBeNull();
    }
}
