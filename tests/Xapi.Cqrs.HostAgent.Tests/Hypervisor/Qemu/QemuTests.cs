using System.Diagnostics;
using Shouldly;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.HostAgent.Hypervisor;
using Xapi.Cqrs.HostAgent.Hypervisor.Qemu;
using Xapi.Cqrs.Testing.Qemu;

namespace Xapi.Cqrs.HostAgent.Tests.Hypervisor.Qemu;

/// <summary>Real QEMU processes: one collection, so never more than one of these runs at once.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class QemuCollection
{
    public const string Name = "qemu";
}

/// <summary>The QMP client and the qemu backend against real QEMU (TCG); every process started is killed by pid in a finally.</summary>
[Collection(QemuCollection.Name)]
public sealed class QemuTests : IDisposable
{
    private const long MiB = 1L << 20;
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;
    private readonly string dir = Path.Combine(Path.GetTempPath(), "xq-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly List<int> pids = [];

    private QemuSettings Settings => QemuSettings.UnderDataDir(dir);

    private static DomainSpec Spec(Guid vm) => new()
    {
        VmId = vm, Name = "t", DomainType = DomainType.Hvm, VcpusMax = 1, VcpusAtStartup = 1,
        MemoryStaticMax = 128 * MiB, MemoryDynamicMin = 128 * MiB, MemoryDynamicMax = 128 * MiB,
    };

    /// <summary>A bare paused QEMU with a QMP socket (for the client tests): its pid.</summary>
    private async Task<(int Pid, string Socket)> SpawnAsync()
    {
        Directory.CreateDirectory(dir);
        var socket = Path.Combine(dir, "q.sock");
        var pidfile = Path.Combine(dir, "q.pid");
        var (exit, error) = await QemuProcess.RunAsync("qemu-system-x86_64",
            ["-S", "-nodefaults", "-display", "none", "-machine", "q35", "-accel", "tcg", "-m", "64", "-qmp", $"unix:{socket},server=on,wait=off",
             "-pidfile", pidfile, "-daemonize"], TimeSpan.FromSeconds(30), ct);
        exit.ShouldBe(0, error);
        var pid = QemuProcess.ReadPidFile(pidfile);
        pids.Add(pid);
        return (pid, socket);
    }

    [Fact]
    public async Task Qmp_client_greets_runs_commands_reports_errors_and_events_and_fails_cleanly_when_qemu_is_killed()
    {
        var (pid, socket) = await SpawnAsync();
        await using var qmp = await QmpClient.ConnectAsync(socket, TimeSpan.FromSeconds(10), ct);
        qmp.Version.ShouldStartWith("7.");

        (await qmp.ExecuteAsync("query-status", ct: ct)).GetProperty("status").GetString().ShouldBe("prelaunch");

        var error = await Should.ThrowAsync<QmpException>(() => qmp.ExecuteAsync("no-such-command", ct: ct));
        error.ErrorClass.ShouldBe("CommandNotFound");

        using (var resumed = qmp.ListenFor("RESUME"))
        {
            await qmp.ExecuteAsync("cont", ct: ct);
            (await resumed.WaitAsync(TimeSpan.FromSeconds(10), ct)).ShouldNotBeNull();
        }

        using (var stopped = qmp.ListenFor("STOP"))
        {
            await qmp.ExecuteAsync("stop", ct: ct);
            (await stopped.WaitAsync(TimeSpan.FromSeconds(10), ct)).ShouldNotBeNull();
        }

        Process.GetProcessById(pid).Kill();
        await qmp.Closed.WaitAsync(TimeSpan.FromSeconds(10), ct);
        var dead = await Should.ThrowAsync<QmpException>(() => qmp.ExecuteAsync("query-status", ct: ct));
        dead.ErrorClass.ShouldBe(QmpException.Disconnected);
    }

    [Fact]
    public async Task A_domain_is_a_paused_qemu_with_its_disks_and_nics_and_follows_pause_unpause_and_destroy()
    {
        var vm = Guid.NewGuid();
        using var host = new QemuHost(Guid.NewGuid(), 2048 * MiB, 0, Settings);
        var domain = await host.CreateDomainAsync(Spec(vm), ct);
        pids.Add(domain.Pid!.Value);
        (domain.State, domain.ActionRequest).ShouldBe((DomainStates.Paused, "poweroff"));
        await host.BuildDomainAsync(vm, ct);
        var (rw, ro) = (Guid.NewGuid(), Guid.NewGuid());
        var sr = Guid.NewGuid();
        (await host.PlugVbdAsync(vm, new VbdSpec { VbdId = rw, Position = 0, VdiId = Guid.NewGuid(), SrId = sr, VirtualSize = 64 * MiB }, ct)).Device.ShouldBe("hda");
        await host.PlugVbdAsync(vm, new VbdSpec { VbdId = ro, Position = 1, Mode = VbdMode.RO, VdiId = Guid.NewGuid(), SrId = sr, VirtualSize = 64 * MiB }, ct);
        await host.PlugVifAsync(vm, new VifSpec { VifId = Guid.NewGuid(), Device = 0, Mac = "02:00:00:aa:bb:01", Bridge = "xenbr0" }, ct);
        await host.CreateDeviceModelAsync(vm, ct);
        await host.ClearActionRequestAsync(vm, ct);

        await using (var outside = await QmpClient.ConnectAsync(host.FindDomain(vm)!.MonitorSocket!, TimeSpan.FromSeconds(10), ct))
        {
            var blocks = (await outside.ExecuteAsync("query-block", ct: ct)).EnumerateArray()
                .Where(b => b.TryGetProperty("inserted", out _)).Select(b => b.GetProperty("inserted").GetProperty("ro").GetBoolean()).Order().ToList();
            blocks.ShouldBe([false, true]);
            (await outside.ExecuteAsync("qom-get", new { path = $"/machine/peripheral/vif-{host.FindDomain(vm)!.Vifs[0]:N}", property = "mac" }, ct))
                .GetString().ShouldBe("02:00:00:aa:bb:01");
        }

        await host.UnpauseAsync(vm, ct);
        host.FindDomain(vm)!.State.ShouldBe(DomainStates.Running);
        host.FindDomain(vm)!.Guest.ShouldBeNull("a firmware-only guest has booted no OS: no ACPI features are claimed for it");
        await host.PauseAsync(vm, ct);
        host.FindDomain(vm)!.State.ShouldBe(DomainStates.Paused);
        await host.UnpauseAsync(vm, ct);

        // bare firmware ignores the ACPI power button: the clean shutdown is not acknowledged
        (await host.ShutdownAsync(vm, ShutdownReason.Poweroff, TimeSpan.FromMilliseconds(500), ct)).ShouldBeFalse();

        await host.DestroyDomainAsync(vm, ct);
        host.FindDomain(vm).ShouldBeNull();
        QemuProcess.IsOurs(domain.Pid!.Value, domain.MonitorSocket!).ShouldBeFalse("quit leaves no process behind (at most a zombie its reaper has not collected)");
        host.MemoryFree.ShouldBe(2048 * MiB);
    }

    [Fact]
    public async Task A_restarted_agent_adopts_a_running_domain_and_a_killed_qemu_is_a_crash()
    {
        var (hostId, vm) = (Guid.NewGuid(), Guid.NewGuid());
        int pid;
        using (var first = new QemuHost(hostId, 2048 * MiB, 0, Settings))
        {
            var d = await first.CreateDomainAsync(Spec(vm), ct);
            pid = d.Pid!.Value;
            pids.Add(pid);
            await first.BuildDomainAsync(vm, ct);
            await first.CreateDeviceModelAsync(vm, ct);
            await first.ClearActionRequestAsync(vm, ct);
            await first.UnpauseAsync(vm, ct);
        }

        using var second = new QemuHost(hostId, 2048 * MiB, 0, Settings);
        var adopted = second.FindDomain(vm).ShouldNotBeNull();
        (adopted.Pid, adopted.State, adopted.ActionRequest).ShouldBe((pid, DomainStates.Running, null));

        var stopped = new TaskCompletionSource<DomainStopped>();
        second.DomainStopped += (_, e) => stopped.TrySetResult(e);
        Process.GetProcessById(pid).Kill();
        (await stopped.Task.WaitAsync(TimeSpan.FromSeconds(10), ct)).Reason.ShouldBe(ShutdownReason.Crash);
        await second.DestroyDomainAsync(vm, ct);
        second.ListDomains().ShouldBeEmpty();
    }

    [Fact]
    public async Task A_direct_boot_domain_claims_the_acpi_features_once_its_kernel_writes_and_powers_off_on_the_power_button()
    {
        // Given a domain booting the guest image directly
        var (kernel, initrd) = await GuestImage.GetAsync();
        var vm = Guid.NewGuid();
        using var host = new QemuHost(Guid.NewGuid(), 2048 * MiB, 0, Settings);
        var domain = await host.CreateDomainAsync(Spec(vm) with { DirectBoot = new DirectBoot(kernel, initrd, DirectBoot.DefaultCmdline) }, ct);
        pids.Add(domain.Pid!.Value);
        await host.BuildDomainAsync(vm, ct);
        await host.CreateDeviceModelAsync(vm, ct);
        await host.ClearActionRequestAsync(vm, ct);
        host.FindDomain(vm)!.Guest.ShouldBeNull("not booted yet");

        // When it is unpaused (its first boot)
        await host.UnpauseAsync(vm, ct);

        // Then the kernel has written to the console by then, and the domain claims the ACPI features
        new FileInfo(host.ConsoleLogPath(vm)).Length.ShouldBeGreaterThan(0);
        host.FindDomain(vm)!.Guest.ShouldBe(QemuHost.AcpiGuest);

        // When the power button is pressed at once, while the guest still boots: it is pressed again until the guest answers
        var stopped = new TaskCompletionSource<DomainStopped>();
        host.DomainStopped += (_, e) => stopped.TrySetResult(e);
        (await host.ShutdownAsync(vm, ShutdownReason.Poweroff, TimeSpan.FromSeconds(90), ct)).ShouldBeTrue();

        // Then the guest shut itself down: an asked-for shutdown, not a DomainStopped
        var after = host.FindDomain(vm)!;
        (after.State, after.ShutdownReason).ShouldBe((DomainStates.Shutdown, ShutdownReason.Poweroff));
        stopped.Task.IsCompleted.ShouldBeFalse();
        File.ReadAllText(host.ConsoleLogPath(vm)).ShouldContain(GuestImage.UpMarker);
        await host.DestroyDomainAsync(vm, ct);
        QemuProcess.IsOurs(domain.Pid!.Value, domain.MonitorSocket!).ShouldBeFalse();
    }

    public void Dispose()
    {
        foreach (var pid in pids)
        {
            try
            {
                using var p = Process.GetProcessById(pid);
                if (p.ProcessName.StartsWith("qemu", StringComparison.Ordinal))
                {
                    p.Kill();
                }
            }
            catch (ArgumentException)
            {
                // gone
            }
        }

        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}
