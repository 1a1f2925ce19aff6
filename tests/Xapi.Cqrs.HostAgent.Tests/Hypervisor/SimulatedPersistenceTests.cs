using System.Net;
using System.Net.Sockets;
using System.Text;
using Shouldly;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.HostAgent.Hypervisor;
using Xapi.Cqrs.HostAgent.Hypervisor.Simulated;
using Xunit;
using static Xapi.Cqrs.HostAgent.Tests.Hypervisor.Sim;

namespace Xapi.Cqrs.HostAgent.Tests.Hypervisor;

/// <summary>
/// The simulated host keeps its state in a directory: a new instance on the same directory (a restarted service, even
/// after SIGKILL, which is an instance that was never disposed) finds the domains as they were.
/// </summary>
public sealed class SimulatedPersistenceTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "xapi-sim-" + Guid.NewGuid().ToString("N"));
    private readonly Guid _hostId = Guid.NewGuid();
    private readonly ManualClock _clock = new();

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_host_loaded_from_the_directory_has_the_same_domains_memory_devices_xenstore_and_consoles()
    {
        var running = Hvm();
        var paused = Pv() with { Name = "paused" };
        var stopped = Pv() with { Name = "stopped" };
        var extra = Guid.NewGuid();
        DomainInfo[] before;
        List<(string, string)> tree;
        long free;
        int port;
        using (var host = NewHost())
        {
            await StartAsync(host, running);
            await host.PlugVifAsync(running.VmId, Nic(extra, 1), Ct);
            await host.CreateDomainAsync(paused, Ct);
            await host.BuildDomainAsync(paused.VmId, Ct);
            await StartAsync(host, stopped);
            host.GuestShutdown(3, ShutdownReason.Crash);
            before = [.. host.ListDomains()];
            tree = Tree(host);
            free = host.MemoryFree;
            port = before[0].VncPort!.Value;
        }

        using var again = NewHost();

        var after = again.ListDomains();
        after.Select(Describe).ShouldBe(before.Select(Describe));
        after[0].Vifs.Last().ShouldBe(extra);
        after[0].Guest!.PvDriversVersion.ShouldBe(SimulatedXenHost.PvDriversVersion);
        after[2].State.ShouldBe(DomainStates.Shutdown);
        after[2].ShutdownReason.ShouldBe(ShutdownReason.Crash);
        after[1].State.ShouldBe(DomainStates.Paused);
        after[1].Built.ShouldBeTrue();
        again.MemoryFree.ShouldBe(free);
        Tree(again).ShouldBe(tree);
        again.ReadXenstore("/local/domain/1/device/vif")!.Children.Select(c => c.Name).ShouldBe(["0", "1"]); // listing order kept
        after[0].VncPort.ShouldBe(port);
        (await RfbGreetingAsync(port)).ShouldBe(SimulatedVnc.ProtocolVersion);

        // and the host goes on: the domains answer calls, the next domid follows the last one
        await again.PauseAsync(running.VmId, Ct);
        await again.DestroyDomainAsync(stopped.VmId, Ct);
        (await again.CreateDomainAsync(Hvm(), Ct)).Domid.ShouldBe(4);
    }

    [Fact]
    public async Task A_host_killed_without_disposing_leaves_the_state_of_every_completed_call()
    {
        var spec = Hvm();
        var host = NewHost(); // never disposed in this test's timeline, as after SIGKILL
        try
        {
            await StartAsync(host, spec);
            await host.PlugVbdAsync(spec.VmId, Disk(Guid.NewGuid(), 1, VbdMode.RW), Ct);
            var expected = host.FindDomain(spec.VmId)!;

            using var restarted = NewHost();

            var found = restarted.FindDomain(spec.VmId)!;
            Describe(found).ShouldBe(Describe(expected) with { VncPort = found.VncPort });
            found.VncPort.ShouldNotBe(expected.VncPort); // the old process still holds the port here: a new one
            restarted.ReadXenstore("/local/domain/1/console/vnc-port")!.Value.ShouldBe(found.VncPort.ToString());
            (await RfbGreetingAsync(found.VncPort!.Value)).ShouldBe(SimulatedVnc.ProtocolVersion);
        }
        finally
        {
            host.Dispose();
        }
    }

    [Fact]
    public async Task Every_step_of_a_start_is_on_disk_when_the_call_returns()
    {
        var spec = Pv();
        using var host = NewHost();

        await host.CreateDomainAsync(spec, Ct);
        Loaded().State.ShouldBe(DomainStates.Paused);
        Loaded().ActionRequest.ShouldBe("poweroff");
        await host.BuildDomainAsync(spec.VmId, Ct);
        Loaded().Built.ShouldBeTrue();
        var disk = Guid.NewGuid();
        await host.PlugVbdAsync(spec.VmId, Disk(disk, 0, VbdMode.RW), Ct);
        Loaded().Vbds.ShouldBe([disk]);
        await host.CreateDeviceModelAsync(spec.VmId, Ct);
        Loaded().DeviceModel.ShouldBeTrue();
        await host.ClearActionRequestAsync(spec.VmId, Ct);
        Loaded().ActionRequest.ShouldBeNull();
        await host.UnpauseAsync(spec.VmId, Ct);
        Loaded().State.ShouldBe(DomainStates.Running);
        Loaded().Guest.ShouldNotBeNull();
        await host.UnplugVbdAsync(spec.VmId, disk, Ct);
        Loaded().Vbds.ShouldBeEmpty();
        var shutdown = host.ShutdownAsync(spec.VmId, ShutdownReason.Reboot, TimeSpan.FromSeconds(5), Ct);
        _clock.Advance(SimulatedXenHost.DefaultGuestShutdownDelay);
        (await shutdown.Within()).ShouldBeTrue();
        Loaded().ShutdownReason.ShouldBe(ShutdownReason.Reboot);
        await host.DestroyDomainAsync(spec.VmId, Ct);
        Load(h => h.FindDomain(spec.VmId)).ShouldBeNull();

        DomainInfo Loaded() => Load(h => h.FindDomain(spec.VmId))!;
    }

    [Fact]
    public async Task Destroyed_domains_stay_destroyed_and_their_domids_are_not_handed_out_again()
    {
        var spec = Hvm();
        using (var host = NewHost())
        {
            await host.CreateDomainAsync(Pv(), Ct);
            await host.CreateDomainAsync(spec, Ct);
            await host.DestroyDomainAsync(spec.VmId, Ct);
        }

        using var again = NewHost();

        again.FindDomain(spec.VmId).ShouldBeNull();
        again.ListDomains().Select(d => d.Domid).ShouldBe([1]);
        again.MemoryFree.ShouldBe((31 * GiB) - again.ListDomains()[0].MemoryReserved);
        (await again.CreateDomainAsync(Hvm(), Ct)).Domid.ShouldBe(3);
    }

    [Fact]
    public async Task A_write_torn_by_a_kill_leaves_the_state_before_it_and_files_that_are_not_frames_are_ignored()
    {
        var spec = Pv();
        using (var host = NewHost())
        {
            await host.CreateDomainAsync(spec, Ct); // the domain's slot, side a
            await host.BuildDomainAsync(spec.VmId, Ct); // side b
        }

        var domains = Path.Combine(_dir, "domains");
        Directory.GetFiles(domains).Select(Path.GetFileName).Order().ShouldBe(["0.a", "0.b"]);
        var newest = Path.Combine(domains, "0.b");
        var bytes = await File.ReadAllBytesAsync(newest, Ct);
        Array.Fill(bytes, (byte)'#', bytes.Length / 2, bytes.Length / 4); // killed in the middle of writing it
        await File.WriteAllBytesAsync(newest, bytes, Ct);
        await File.WriteAllTextAsync(Path.Combine(domains, "7.a"), "{\"format\":1,\"spec\":", Ct); // a first write cut short
        await File.WriteAllTextAsync(Path.Combine(domains, "notes.txt"), "not ours", Ct);

        using (var again = NewHost())
        {
            var found = again.FindDomain(spec.VmId)!;
            found.Built.ShouldBeFalse(); // the build's write was torn: the state as created
            found.ActionRequest.ShouldBe("poweroff");
            again.ListDomains().Count.ShouldBe(1);
            await again.BuildDomainAsync(spec.VmId, Ct); // written over the torn side
        }

        using var third = NewHost();
        third.FindDomain(spec.VmId)!.Built.ShouldBeTrue();
        File.Exists(Path.Combine(domains, "notes.txt")).ShouldBeTrue();
    }

    [Fact]
    public async Task A_destroyed_domain_frees_its_slot_for_the_next_one()
    {
        using var host = NewHost();
        var first = Hvm();
        await host.CreateDomainAsync(first, Ct);
        await host.DestroyDomainAsync(first.VmId, Ct);
        var second = Pv();
        await host.CreateDomainAsync(second, Ct);

        Directory.GetFiles(Path.Combine(_dir, "domains")).Length.ShouldBe(2); // one slot, two sides
        Load(h => h.ListDomains().Select(d => d.VmId).ToList()).ShouldBe([second.VmId]);
    }

    [Fact]
    public async Task A_plug_that_had_not_completed_is_undone_at_load()
    {
        var spec = Hvm();
        var host = NewHost(); // killed with the plug in flight
        try
        {
            await host.CreateDomainAsync(spec, Ct);
            host.HotplugScriptsEnabled = false;
            var plug = host.PlugVbdAsync(spec.VmId, Disk(Guid.NewGuid(), 0, VbdMode.RW), Ct);
            await host.ClearActionRequestAsync(spec.VmId, Ct); // saves the domain with the half-plugged disk in it
            plug.IsCompleted.ShouldBeFalse();

            using var restarted = NewHost();

            var found = restarted.FindDomain(spec.VmId)!;
            found.Vbds.ShouldBeEmpty();
            found.ActionRequest.ShouldBeNull();
            foreach (var path in new[] { "/local/domain/1/device/vbd/768", "/local/domain/0/backend/vbd/1/768", $"/xapi/{spec.VmId}/private/vbd/768", $"/vm/{spec.VmId}/devices/vbd/768" })
            {
                restarted.ReadXenstore(path).ShouldBeNull(path);
            }

            (await restarted.PlugVbdAsync(spec.VmId, Disk(Guid.NewGuid(), 0, VbdMode.RW), Ct)).Devid.ShouldBe(768);
        }
        finally
        {
            host.Dispose();
        }
    }

    [Fact]
    public async Task A_pending_shutdown_request_is_withdrawn_at_load()
    {
        var spec = Hvm() with { IgnoreShutdown = true };
        var host = NewHost();
        try
        {
            await StartAsync(host, spec);
            _ = host.ShutdownAsync(spec.VmId, ShutdownReason.Poweroff, Timeout.InfiniteTimeSpan, Ct);
            await host.PauseAsync(spec.VmId, Ct); // saves the domain with control/shutdown written

            using var restarted = NewHost();

            restarted.ReadXenstore("/local/domain/1/control/shutdown").ShouldBeNull();
            restarted.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Paused);
            Load(h => h.ReadXenstore("/local/domain/1/control/shutdown")).ShouldBeNull(); // and saved so
        }
        finally
        {
            host.Dispose();
        }
    }

    [Fact]
    public async Task A_host_without_a_directory_keeps_nothing()
    {
        using var host = Sim.Host(_clock);
        await host.CreateDomainAsync(Hvm(), Ct);

        host.StateDirectory.ShouldBeNull();
        Directory.Exists(_dir).ShouldBeFalse();
    }

    [Fact]
    public async Task The_registry_gives_each_simulated_host_a_directory_of_its_own_under_the_settings()
    {
        var settings = new SimulatorSettings(_dir);
        var spec = Hvm();
        using (var registry = new HypervisorRegistry(settings))
        {
            var host = registry.GetOrCreateSimulated(_hostId, 32 * GiB, GiB, _clock);
            host.HotplugDelay = TimeSpan.Zero;
            host.StateDirectory.ShouldBe(Path.Combine(_dir, _hostId.ToString()));
            await StartAsync(host, spec);
            registry.GetOrCreateSimulated(Guid.NewGuid(), 8 * GiB, 0, _clock).ListDomains().ShouldBeEmpty();
        }

        using var next = new HypervisorRegistry(settings);
        var reloaded = next.GetOrCreateSimulated(_hostId, 32 * GiB, GiB, _clock);
        reloaded.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Running);
        SimulatorSettings.UnderDataDir("/srv/xapi").StateDirectory.ShouldBe("/srv/xapi/hypervisors");
        new HypervisorRegistry().Settings.StateDirectory.ShouldBeNull();
    }

    // ---------------------------------------------------------------- helpers

    private SimulatedXenHost NewHost() => new(_hostId, 32 * GiB, GiB, _clock, _dir) { HotplugDelay = TimeSpan.Zero };

    /// <summary>What a fresh instance answers on a copy of the directory as it is now (the running one goes on undisturbed).</summary>
    private T Load<T>(Func<SimulatedXenHost, T> read)
    {
        var copy = _dir + "-copy-" + Guid.NewGuid().ToString("N");
        try
        {
            foreach (var file in Directory.GetFiles(_dir, "*", SearchOption.AllDirectories))
            {
                var target = Path.Combine(copy, Path.GetRelativePath(_dir, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target);
            }

            using var host = new SimulatedXenHost(_hostId, 32 * GiB, GiB, _clock, copy);
            return read(host);
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    /// <summary>The domain with its lists compared by value.</summary>
    private static DomainInfo Describe(DomainInfo d) => d with
    {
        Vbds = new EquatableList<Guid>(d.Vbds),
        Vifs = new EquatableList<Guid>(d.Vifs),
        Guest = d.Guest is null ? null : d.Guest with { Features = new EquatableList<string>(d.Guest.Features) },
    };

    private static List<(string, string)> Tree(SimulatedXenHost host) =>
        [.. host.ReadXenstore("/")!.Descendants().Select(n => (n.Path, n.Value)).Order()];

    private static async Task<string> RfbGreetingAsync(int port)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, Ct).AsTask().WaitAsync(Bound, Ct);
        var greeting = new byte[12];
        await client.GetStream().ReadExactlyAsync(greeting, Ct).AsTask().WaitAsync(Bound, Ct);
        return Encoding.ASCII.GetString(greeting);
    }

    /// <summary>A list compared by its items, so records holding one compare by value.</summary>
    private sealed class EquatableList<T>(IEnumerable<T> items) : List<T>(items), IEquatable<EquatableList<T>>
    {
        public bool Equals(EquatableList<T>? other) => other is not null && this.SequenceEqual(other);

        public override bool Equals(object? obj) => Equals(obj as EquatableList<T>);

        public override int GetHashCode() => Count;

        public override string ToString() => "[" + string.Join(", ", this) + "]";
    }
}
